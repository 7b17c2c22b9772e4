"""``chainsleuth serve``: the REST API over a dataset (FastAPI), versioned under ``/api/v1``.

Modules: :mod:`~chainsleuth.api.app` (``create_app``), :mod:`~chainsleuth.api.auth` (tokens,
roles, the middleware deciding 401/403 before a body is read), :mod:`~chainsleuth.api.audit`
(the hash-chained audit log), :mod:`~chainsleuth.api.state` (the read-only dataset pool),
:mod:`~chainsleuth.api.pagination`, :mod:`~chainsleuth.api.problems` (problem+json errors),
:mod:`~chainsleuth.api.limits`, and one router module per resource in ``api/routes/``.
"""
