"""The app factory of the catalog web: routers from web.routes.ROUTERS, the accounts middleware
(web.auth.install), static files, security headers and friendly error pages.

Other engineers' tests run against create_app(); it must never break, so each part is added in
one small, separate step."""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import RequestResponseEndpoint

from web import auth
from web.routes import ROUTERS
from web.templates import templates

log = logging.getLogger("kcdata.web")

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
NODE_MODULES = Path(__file__).resolve().parents[1] / "node_modules"
ECHARTS_DIST = NODE_MODULES / "echarts" / "dist"

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

ERROR_TITLES = {
    400: ("请求有误", "Bad request"),
    401: ("请先登录", "Please sign in"),
    403: ("无权访问", "Forbidden"),
    404: ("未找到", "Not found"),
    405: ("不支持的请求方法", "Method not allowed"),
    422: ("请求参数有误", "Invalid request"),
    500: ("服务器出错", "Server error"),
    503: ("暂不可用", "Unavailable"),
}


def create_app() -> FastAPI:
    """The whole catalog web, ready for uvicorn or a TestClient."""
    app = FastAPI(title="知识城数据资源目录 Knowledge City data-resource catalog", docs_url=None, redoc_url=None, openapi_url=None)
    _add_error_pages(app)
    _mount_static(app)
    for name in ROUTERS:
        module = importlib.import_module(f"web.routes.{name}")
        app.include_router(module.router)
    auth.install(app)  # the accounts engineer's middleware: sign-in, roles, CSRF, flash
    _add_security_headers(app)  # added last, so it is the outermost middleware and sees every response
    return app


def _add_security_headers(app: FastAPI) -> None:
    @app.middleware("http")
    async def security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response


def error_page(request: Request, status_code: int, detail: str | None = None) -> Response:
    """A bilingual error page (HTML for browsers, plain text for scripts), never a traceback.
    It carries the security headers itself: a 500 answer leaves by Starlette's outer error
    middleware, past ours."""
    response = _error_response(request, status_code, detail)
    for header, value in SECURITY_HEADERS.items():
        response.headers.setdefault(header, value)
    return response


def _error_response(request: Request, status_code: int, detail: str | None) -> Response:
    title_zh, title_en = ERROR_TITLES.get(status_code, ("出错了", "Error"))
    accepts_html = "text/html" in request.headers.get("accept", "") or "*/*" in request.headers.get("accept", "*/*")
    if not accepts_html:
        return PlainTextResponse(f"{status_code} {title_zh} {title_en}: {detail or ''}".strip(), status_code=status_code)
    try:
        return templates.TemplateResponse(
            request, "error.html", {"status_code": status_code, "title_zh": title_zh, "title_en": title_en, "detail": detail},
            status_code=status_code,
        )
    except Exception:  # the layout itself failed: still answer plainly
        log.exception("error page could not be rendered")
        return HTMLResponse(f"<h1>{status_code} {title_zh} {title_en}</h1>", status_code=status_code)


def _add_error_pages(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else None
        response = error_page(request, exc.status_code, detail)
        for header, value in (exc.headers or {}).items():
            response.headers[header] = value
        return response

    from fastapi.exceptions import RequestValidationError

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        fields = ", ".join(".".join(str(p) for p in err.get("loc", ())) for err in exc.errors())
        return error_page(request, 422, f"参数有误 invalid parameters: {fields}")

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return error_page(request, 500, "请稍后再试，或联系数据局。Please try again later or contact the data bureau.")


def _mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    if ECHARTS_DIST.is_dir():
        app.mount("/assets/echarts", StaticFiles(directory=ECHARTS_DIST), name="echarts")
        return
    message = f"ECharts is missing ({ECHARTS_DIST}): run scripts/setup.sh to install the front-end assets (npm ci)."
    log.error(message)

    @app.get("/assets/echarts/{path:path}", include_in_schema=False)
    async def echarts_missing(path: str) -> Response:
        return PlainTextResponse(f"图表库缺失 Charts library missing. {message}", status_code=503)


app = create_app()
