"""`/healthz`: whether the catalog web answers and can read its catalog, for `kcdata status`
and supervisord's watchers. Reads only counts, so it is cheap and reveals nothing."""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/healthz", include_in_schema=False)
def healthz() -> JSONResponse:
    from web.catalog_state import snapshots

    try:
        kcdata_version = version("kcdata")
    except PackageNotFoundError:
        kcdata_version = None
    try:
        resources = len(snapshots.get().resources)  # the catalog as the pages show it (re-read when its YAML changes)
    except Exception as exc:  # noqa: BLE001 - a health check reports, it never raises
        return JSONResponse({"status": "error", "detail": type(exc).__name__, "version": kcdata_version}, status_code=503)
    return JSONResponse({"status": "ok", "version": kcdata_version, "resources": resources})
