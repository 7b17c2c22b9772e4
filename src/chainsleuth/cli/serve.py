"""``chainsleuth serve``: the REST API (and the explorer) over a dataset, with uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from chainsleuth.cli._app import app, console_err

__all__ = ["serve"]


@app.command()
def serve(
    data: Annotated[Path, typer.Option("--data", help="Dataset directory (opened read-only).")],
    host: Annotated[
        str, typer.Option(help="Address to bind (loopback by default; 0.0.0.0 exposes it).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    clustering: Annotated[
        str | None, typer.Option(help="Clustering run to serve (default: the newest).")
    ] = None,
    allow_stale: Annotated[
        bool,
        typer.Option(
            "--allow-stale", help="Serve a clustering run older than the dataset's tip (else 409)."
        ),
    ] = False,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin", help="Allow this origin cross-site (repeatable; none by default)."
        ),
    ] = None,
    memory_limit: Annotated[
        str | None,
        typer.Option(help="RAM budget, e.g. 2G; half of it is shared by the pooled queries."),
    ] = None,
    pool: Annotated[
        int, typer.Option(help="Datasets open at once (concurrent queries).", min=1, max=64)
    ] = 4,
) -> None:
    """Serve the REST API under /api/v1 (OpenAPI at /openapi.json) and the explorer at /.

    Every /api/v1 path but /api/v1/health needs `Authorization: Bearer TOKEN` (tokens:
    `chainsleuth users add`); every request is written to DATASET/audit.log.

    Example: chainsleuth serve --data case.ds --port 8000
    """
    import uvicorn

    from chainsleuth.api.app import create_app

    api = create_app(
        data,
        run=clustering,
        allow_stale=allow_stale,
        cors_origins=tuple(cors_origin or ()),
        pool_size=pool,
        memory_limit=memory_limit,
    )
    console_err.print(
        f"serving {data} on http://{host}:{port}/ (API /api/v1, OpenAPI /openapi.json)",
        markup=False,
        highlight=False,
    )
    try:
        uvicorn.run(
            api,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,  # the audit log records every API request
            timeout_keep_alive=75,  # idle clients keep their connection between calls
        )
    finally:
        jobs = getattr(api.state, "jobs", None)
        if jobs is not None:  # running investigations stop with the server (SIGTERM, waited)
            jobs.close()
        api.state.server.close()
