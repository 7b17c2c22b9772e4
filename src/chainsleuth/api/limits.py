"""The bounds a server enforces on every request (body, page, bulk, trace and job sizes).

>>> ApiLimits().max_page
500
>>> ApiLimits(max_page=100).max_body_bytes
1000000
>>> ApiLimits().body_limit("PUT", "/api/v1/cases/op-x/explorer")
16000000
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["ApiLimits"]

_EXPLORER_PUT = re.compile(r"/api/v1/cases/[^/]+/explorer")


@dataclass(frozen=True)
class ApiLimits:
    """Hard limits of one server: a request past one is refused with 4xx, never clamped.

    ``max_page``: largest ``limit`` of a paginated list (more → 400); ``max_body_bytes``:
    largest request body (more → 413, checked from Content-Length and while streaming);
    ``max_explorer_bytes``: the one larger body, the explorer's saved graph (``PUT
    /cases/{name}/explorer``: ~0.7 KB per node with its edges, so ~20,000 nodes);
    ``max_bulk``: addresses per bulk request; ``max_trace_hops`` / ``max_trace_seeds`` /
    ``max_trace_nodes``: a synchronous trace's bounds; ``jobs_per_token`` / ``jobs_total``:
    concurrent investigation jobs; ``job_memory_limit``: a job's ``--memory-limit``.
    """

    max_page: int = 500
    max_body_bytes: int = 1_000_000
    max_explorer_bytes: int = 16_000_000
    max_bulk: int = 1000
    max_trace_hops: int = 10
    max_trace_seeds: int = 100
    max_trace_nodes: int = 20000
    jobs_per_token: int = 2
    jobs_total: int = 4
    job_memory_limit: str = "2G"

    def body_limit(self, method: str, path: str) -> int:
        """The largest body a request to ``method path`` may send."""
        if method == "PUT" and _EXPLORER_PUT.fullmatch(path):
            return max(self.max_body_bytes, self.max_explorer_bytes)
        return self.max_body_bytes
