"""The router convention: every module named in ROUTERS (under web.routes) has a `router`
(a FastAPI APIRouter) that `web.app.create_app()` includes, in this order. Engineers add their
module names here instead of editing the app factory."""
from __future__ import annotations

ROUTERS: list[str] = [
    "catalog",
    "exports",
    "account",
    "workflow",
    "sharing",
    "department",
    "audit",
    "health",
]
