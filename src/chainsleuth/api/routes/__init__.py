"""One router module per resource, each exposing ``router: fastapi.APIRouter`` that
:func:`chainsleuth.api.app.create_app` mounts at ``/api/v1`` (:data:`chainsleuth.api.app.
ROUTE_MODULES` lists them). Every route but ``/health`` declares its role with
``dependencies=[requires("viewer")]`` (:func:`chainsleuth.api.auth.requires`)."""
