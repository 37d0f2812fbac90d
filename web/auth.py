"""Sign-in for the catalog web: server-side sessions, CSRF protection and role checks.

`install(app)` adds one middleware that, on every request, puts the signed-in `Account` (or None)
on `request.state.account` and the CSRF token forms must carry on `request.state.csrf_token`, and
refuses any POST without a valid token (403). A signed-in browser's token is an HMAC of its
session token; before sign-in it is a signed double-submit cookie. Pages use the helpers below
(`require_account`, `require_role`, `can_see_department`, `can_read_data`) instead of checking
roles themselves.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.middleware.base import RequestResponseEndpoint

from catalog.accounts import Account, Role, session_account
from catalog.model import Resource
from common.settings import read_settings
from web.catalog_state import get_store

SESSION_COOKIE = "kcdata_session"
CSRF_COOKIE = "kcdata_csrf"
FLASH_COOKIE = "kcdata_flash"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


@lru_cache(maxsize=1)
def _secret() -> bytes:
    """KCDATA_WEB_SECRET_KEY (the running system's secret), else a key for this process only."""
    key = read_settings().web_secret_key
    return key.get_secret_value().encode("utf-8") if key else secrets.token_bytes(32)


def _sign(value: str) -> str:
    return hmac.new(_secret(), value.encode("utf-8"), hashlib.sha256).hexdigest()


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


# --- CSRF ---------------------------------------------------------------------------------------

def _session_csrf(session_token: str) -> str:
    return _sign("csrf:" + session_token)


def _anonymous_csrf_valid(cookie: str | None) -> bool:
    if not cookie or "." not in cookie:
        return False
    nonce, signature = cookie.rsplit(".", 1)
    return hmac.compare_digest(signature, _sign("anon:" + nonce))


def _new_anonymous_csrf() -> str:
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_sign('anon:' + nonce)}"


async def _submitted_token(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        body = await request.body()  # BaseHTTPMiddleware replays the body to the route; a parsed form it does not

        async def replay() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async with Request(request.scope, replay).form() as form:
            value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def csrf_field(request: Request) -> Markup:
    """The hidden input every POST form includes: {{ csrf_field(request) }}."""
    token = getattr(request.state, "csrf_token", "") or ""
    return Markup(f'<input type="hidden" name="{CSRF_FIELD}" value="{escape(token)}">')


# --- flash messages (one redirect long, signed so nobody can plant text on our pages) -----------

def flash(response: Response, request: Request, text: str, level: str = "info") -> Response:
    payload = quote(f"{level}|{text}", safe="")
    response.set_cookie(FLASH_COOKIE, f"{payload}.{_sign('flash:' + payload)}", httponly=True, samesite="lax",
                        path="/", secure=request.url.scheme == "https", max_age=60)
    return response


def _read_flash(request: Request) -> list[tuple[str, str]]:
    from urllib.parse import unquote

    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return []
    payload, signature = raw.rsplit(".", 1)
    if not hmac.compare_digest(signature, _sign("flash:" + payload)):
        return []
    level, _, text = unquote(payload).partition("|")
    return [(level, text)]


# --- the middleware --------------------------------------------------------------------------------

def _csrf_refused(request: Request) -> Response:
    from web.templates import templates

    return templates.TemplateResponse(request, "account/csrf.html", {}, status_code=403)


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None = None) -> None:
    response.set_cookie(name, value, httponly=True, samesite="lax", path="/", secure=request.url.scheme == "https",
                        max_age=max_age)


def install(app: FastAPI) -> None:
    """Add the accounts middleware, the login redirect and the Jinja globals to the app."""
    from web.templates import templates

    templates.env.globals.update(
        csrf_field=csrf_field, can_see_department=can_see_department, can_read_data=can_read_data,
        account_links=account_links,
    )

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(f"/login?next={quote(exc.next_url, safe='/')}", status_code=303)

    @app.middleware("http")
    async def accounts(request: Request, call_next: RequestResponseEndpoint) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        account = await run_in_threadpool(session_account, get_store(), token) if token else None
        request.state.account = account
        new_anonymous = None
        if account is not None and token:  # an account comes from a session token
            request.state.csrf_token = _session_csrf(token)
        else:
            cookie = request.cookies.get(CSRF_COOKIE)
            if not _anonymous_csrf_valid(cookie):
                cookie = new_anonymous = _new_anonymous_csrf()
            request.state.csrf_token = cookie
        flashed = _read_flash(request)
        if flashed:
            request.state.flash = flashed
        if request.method in UNSAFE_METHODS:
            submitted = await _submitted_token(request)
            if new_anonymous or not submitted or not hmac.compare_digest(submitted, request.state.csrf_token):
                return _csrf_refused(request)
        response = await call_next(request)
        if new_anonymous:
            set_cookie(response, request, CSRF_COOKIE, new_anonymous)
        if token and account is None and request.url.path != "/login":
            response.delete_cookie(SESSION_COOKIE, path="/")  # expired or unknown: forget it
        if flashed and not any(h.startswith(FLASH_COOKIE + "=") for h in response.headers.getlist("set-cookie")):
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response


# --- helpers for pages ---------------------------------------------------------------------------

class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def current_account(request: Request) -> Account | None:
    return getattr(request.state, "account", None)


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def require_account(request: Request) -> Account:
    """Dependency: the signed-in account, else a redirect to /login?next=<this page>."""
    account = current_account(request)
    if account is None:
        raise LoginRequired(_here(request))
    return account


def require_role(*roles: Role | str) -> Callable[[Request], Account]:
    """Dependency factory: the signed-in account if it has one of `roles` (403 otherwise)."""
    wanted = {Role(r) for r in roles}

    def dependency(request: Request) -> Account:
        account = require_account(request)
        if account.role not in wanted:
            raise HTTPException(403, "您的角色无权访问此页 Your role may not open this page.")
        return account

    return dependency


def can_see_department(account: Account | None, slug: str) -> bool:
    """A department's own pages (problems, requests to it): its people and bureau admins."""
    return account is not None and (account.is_admin or account.department == slug)


READABLE = ("admin", "provider", "unconditional", "grant")  # the reasons of `data_access` that allow reading


def data_access(account: Account | None, resource: Resource, now: datetime | None = None) -> str:
    """Why this account may or may not read the resource's data — the one sharing rule, whose
    answer is in READABLE when it may: the provider's people and bureau admins always; others when
    it is 无条件共享, or with an approved, unexpired sharing grant (有条件共享); 不予共享 never for
    anybody else. Reasons: anonymous, admin, provider, not_shared, unconditional, grant, needs_request."""
    from catalog.model import ShareType
    from catalog.sharing import has_grant

    if account is None or account.disabled:
        return "anonymous"
    if account.is_admin:
        return "admin"
    if account.department == resource.provider.slug:
        return "provider"
    if resource.share.type is ShareType.none:
        return "not_shared"
    if resource.share.type is ShareType.unconditional:
        return "unconditional"
    return "grant" if has_grant(get_store(), account.department, resource.code, now) else "needs_request"


def can_read_data(account: Account | None, code: str, now: datetime | None = None) -> bool:
    """May this account read the data of resource `code`? (`data_access` says why.)"""
    from catalog.entries import get_resource
    from common.errors import KcdataError

    try:
        resource = get_resource(code)
    except KcdataError:
        return False
    return data_access(account, resource, now) in READABLE


def account_links(request: Request) -> list[tuple[str, str, str]]:
    """The navigation entries of the signed-in account: (href, 中文, English)."""
    account = current_account(request)
    if account is None:
        return []
    links = [("/sharing", "共享申请", "Sharing")]
    if account.is_admin or account.is_reviewer:
        links.insert(0, ("/review", "待审核", "Review"))
        links.append(("/audit", "审计日志", "Audit log"))
    if account.department:
        links.append((f"/department/{account.department}/problems", "本部门问题数据", "Our problems"))
    return links


def login_redirect_target(next_url: str | None) -> str:
    """Only a path on this site (never //host or a scheme), so a link cannot send people away."""
    if not next_url or not next_url.startswith("/") or next_url.startswith("//") or "\\" in next_url:
        return "/"
    return next_url


__all__ = [
    "LoginRequired", "account_links", "can_read_data", "can_see_department", "client_address",
    "csrf_field", "current_account", "flash", "get_store", "install", "login_redirect_target", "require_account",
    "require_role", "set_cookie", "SignedIn", "ReviewerOrAdmin",
]


# Parameter types for routes: `account: SignedIn` (any signed-in account), `account: ReviewerOrAdmin`.
SignedIn = Annotated[Account, Depends(require_account)]
ReviewerOrAdmin = Annotated[Account, Depends(require_role(Role.department_reviewer, Role.bureau_admin))]
