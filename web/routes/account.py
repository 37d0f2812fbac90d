"""Sign in (/login) and sign out (POST /logout)."""
from __future__ import annotations

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from catalog.accounts import close_session, open_session, sign_in
from catalog.audit import record
from web.auth import SESSION_COOKIE, client_address, current_account, get_store, login_redirect_target, set_cookie
from web.templates import templates

router = APIRouter()


def _login_page(request: Request, next_url: str, username: str = "", error: str = "", status_code: int = 200) -> Response:
    return templates.TemplateResponse(
        request, "account/login.html", {"next_url": next_url, "username": username, "error": error, "nav": "login"},
        status_code=status_code,
    )


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return _login_page(request, login_redirect_target(next))


@router.post("/login")
async def login(request: Request, username: str = Form(""), password: str = Form(""), next: str = Form("/")) -> Response:
    store, target = get_store(), login_redirect_target(next)
    result = await run_in_threadpool(sign_in, store, username, password, client_address(request))
    if result.account is None:
        return _login_page(request, target, username, result.message, 429 if result.wait_minutes else 401)
    token = await run_in_threadpool(open_session, store, result.account, client_address(request))
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, token)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    account = current_account(request)
    if account is not None:
        store = get_store()
        await run_in_threadpool(close_session, store, request.cookies.get(SESSION_COOKIE))
        await run_in_threadpool(record, store, account.actor(client_address(request)), "logout", subject=account.username)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
