"""schemathesis against the OpenAPI document: every operation, with an admin token, a bounded
number of generated requests each. No response may be a 500, and each must conform to the
document (status code documented, content type, body schema).

The server fuzzed is its own copy of the API test dataset, so the tags, cases and explorer
files the generated requests write do not reach the other tests.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from chainsleuth.api.app import create_app

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 12


@pytest.fixture(scope="module")
def fuzz_app(
    api_data: Path, tokens: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    path = tmp_path_factory.mktemp("fuzz") / "dataset"
    shutil.copytree(api_data, path, ignore=shutil.ignore_patterns("audit.log*", "cases", "jobs"))
    app = create_app(path)
    yield app
    jobs = getattr(app.state, "jobs", None)
    if jobs is not None:
        jobs.close()
    app.state.server.close()


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


def _fuzz(operation: Any, headers: dict[str, str]) -> None:
    """Run ``MAX_EXAMPLES`` generated requests of one operation through the checks."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_every_operation_conforms(api_schema: Any, tokens: dict[str, str]) -> None:
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    failures: list[str] = []
    operations = [op.ok() for op in api_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        try:
            _fuzz(operation, headers)
        except Exception as err:  # collect them all, then fail naming each operation
            failures.append(f"{operation.label}: {str(err)[:1500]}")
    assert not failures, "\n\n".join(failures)
