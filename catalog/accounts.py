"""Accounts of the catalog web, their passwords, browser sessions and the sign-in rate limit.

Passwords are hashed with scrypt (`cryptography`), a fresh 16-byte salt per password, and the
parameters, salt and hash are kept together in one string, so stronger parameters can be adopted
later without breaking older hashes. Sessions are random tokens of which the store keeps only
the SHA-256. Sign-in failures are counted per username and per client address in the store, so
every web process (and a restart) sees the same count.
"""
from __future__ import annotations

import base64
import hashlib
import math
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidKey
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from catalog.audit import Actor, add_event
from catalog.tables import AccountRow, LoginAttemptRow, WebSessionRow
from common.errors import KcdataError
from common.settings import read_settings

if TYPE_CHECKING:
    from catalog.store import CatalogStore

MIN_PASSWORD_LENGTH = 12
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
HASH_LENGTH = 32


class Role(str, Enum):
    department_user = "department_user"
    department_reviewer = "department_reviewer"
    bureau_admin = "bureau_admin"


ROLE_LABELS = {
    Role.department_user: "部门用户 Department user",
    Role.department_reviewer: "部门审核员 Department reviewer",
    Role.bureau_admin: "数据局管理员 Bureau admin",
}


@dataclass(frozen=True)
class Account:
    """A signed-in person as the web and the approvals see them (never with the password hash)."""

    id: int
    username: str
    display_name: str
    role: Role
    department: str | None
    disabled: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role is Role.bureau_admin

    @property
    def is_reviewer(self) -> bool:
        return self.role is Role.department_reviewer

    @property
    def label(self) -> str:
        return self.display_name or self.username

    @property
    def record_name(self) -> str:
        """The name on an approval record: `王科长 (wang)`, or the username alone."""
        return f"{self.display_name} ({self.username})" if self.display_name else self.username

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]

    def actor(self, client: str = "") -> Actor:
        return Actor(self.username, self.role.value, self.department, client)


def _account(row: AccountRow) -> Account:
    return Account(row.id, row.username, row.display_name, Role(row.role), row.department, row.disabled)


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# --- passwords -------------------------------------------------------------------------------

def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise KcdataError(f"密码至少 {MIN_PASSWORD_LENGTH} 个字符 the password needs at least {MIN_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    """`scrypt$<n>$<r>$<p>$<salt>$<hash>` (base64), all a later verification needs."""
    salt = os.urandom(16)
    digest = Scrypt(salt=salt, length=HASH_LENGTH, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(password.encode("utf-8"))
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check (Scrypt.verify) against a string from `hash_password`."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        kdf = Scrypt(salt=base64.b64decode(salt), length=len(expected), n=int(n), r=int(r), p=int(p))
        kdf.verify(password.encode("utf-8"), expected)
        return True
    except (InvalidKey, ValueError):
        return False


_DUMMY_HASH: str | None = None


def _burn_time(password: str) -> None:
    """Hash anyway for an unknown user, so the answer's timing does not tell which names exist."""
    global _DUMMY_HASH
    _DUMMY_HASH = _DUMMY_HASH or hash_password(secrets.token_hex(8))
    verify_password(password, _DUMMY_HASH)


# --- accounts --------------------------------------------------------------------------------

def _check_role(role: Role | str, department: str | None) -> tuple[Role, str | None]:
    from catalog.entries import load_departments

    try:
        role = Role(role)
    except ValueError as exc:
        raise KcdataError(f"未知角色 unknown role {role!r}; choose one of {', '.join(r.value for r in Role)}") from exc
    if role is Role.bureau_admin:
        if department:
            raise KcdataError("数据局管理员不属于部门 a bureau admin has no department; leave --department out")
        return role, None
    known = load_departments()
    if not department:
        raise KcdataError(f"部门角色需要部门 a department role needs --department (one of {', '.join(sorted(known))})")
    if department not in known:
        raise KcdataError(f"未知部门 unknown department {department!r}; known: {', '.join(sorted(known))}")
    return role, department


def create_account(
    store: CatalogStore, username: str, password: str, role: Role | str, department: str | None = None, display_name: str = "",
    actor: Actor | None = None,
) -> Account:
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        raise KcdataError("用户名须为 1-64 个非空白字符 a username is 1-64 characters without spaces")
    role, department = _check_role(role, department)
    check_password_strength(password)
    with store.session() as s:
        if s.scalar(select(AccountRow).where(AccountRow.username == username)) is not None:
            raise KcdataError(f"用户名已存在 the username {username!r} is taken")
        now = _now()
        row = AccountRow(
            username=username, display_name=display_name.strip(), role=role.value, department=department,
            password=hash_password(password), disabled=False, created_at=now, password_changed_at=now,
        )
        s.add(row)
        s.flush()
        add_event(s, actor or Actor("cli"), "account.create", department=department, subject=username,
                  detail={"role": role.value})
        return _account(row)


def get_account(store: CatalogStore, username: str) -> Account | None:
    with store.session() as s:
        row = s.scalar(select(AccountRow).where(AccountRow.username == username))
        return None if row is None else _account(row)


def list_accounts(store: CatalogStore) -> list[Account]:
    with store.session() as s:
        return [_account(r) for r in s.scalars(select(AccountRow).order_by(AccountRow.username))]


def _existing(s: Session, username: str) -> AccountRow:
    row = s.scalar(select(AccountRow).where(AccountRow.username == username))
    if row is None:
        raise KcdataError(f"没有该用户 no account named {username!r}")
    return row


def set_password(store: CatalogStore, username: str, password: str, actor: Actor | None = None) -> None:
    """Change a password; the account's open sessions end."""
    check_password_strength(password)
    with store.session() as s:
        row = _existing(s, username)
        row.password, row.password_changed_at = hash_password(password), _now()
        s.execute(delete(WebSessionRow).where(WebSessionRow.account_id == row.id))
        add_event(s, actor or Actor("cli"), "account.password", department=row.department, subject=username)


def disable_account(store: CatalogStore, username: str, actor: Actor | None = None) -> None:
    """Disable an account (kept for the record) and end its sessions."""
    with store.session() as s:
        row = _existing(s, username)
        row.disabled = True
        s.execute(delete(WebSessionRow).where(WebSessionRow.account_id == row.id))
        add_event(s, actor or Actor("cli"), "account.disable", department=row.department, subject=username)


# --- sign-in and its rate limit ---------------------------------------------------------------

@dataclass(frozen=True)
class RateLimit:
    max_failures_per_user: int = 5
    max_failures_per_client: int = 20
    window: timedelta = timedelta(minutes=15)

    @classmethod
    def from_env(cls) -> RateLimit:
        given = read_settings()
        return cls(given.web_login_max_failures, given.web_login_max_failures_per_client,
                   timedelta(minutes=given.web_login_window_minutes))


@dataclass(frozen=True)
class SignIn:
    account: Account | None
    wait_minutes: int = 0  # > 0: refused by the rate limit, try again after this many minutes

    @property
    def message(self) -> str:
        if self.account is not None:
            return ""
        if self.wait_minutes:
            n = self.wait_minutes
            return f"登录失败次数过多，请 {n} 分钟后再试 Too many failed sign-ins. Try again in {n} minutes."
        return "用户名或密码错误 Wrong username or password."


def _wait(failures: list[datetime], limit: int, window: timedelta, now: datetime) -> int:
    """Minutes until fewer than `limit` of these failures are inside the window (0: not blocked)."""
    if len(failures) < limit:
        return 0
    frees_at = sorted(failures)[len(failures) - limit] + window
    return max(1, math.ceil((frees_at - now).total_seconds() / 60))


def sign_in(store: CatalogStore, username: str, password: str, client: str, now: datetime | None = None,
            limit: RateLimit | None = None) -> SignIn:
    """Check a password under the rate limit; record the attempt and an audit event either way.

    Over the limit the answer is a refusal even with the right password (checked before it)."""
    now, limit = now or _now(), limit or RateLimit.from_env()
    username = username.strip()[:64]
    since = now - limit.window
    with store.session() as s:
        last_success = s.scalar(select(LoginAttemptRow.at).where(
            LoginAttemptRow.username == username, LoginAttemptRow.succeeded.is_(True)).order_by(LoginAttemptRow.at.desc()).limit(1))
        user_since = max(since, last_success) if last_success else since
        user_failures = list(s.scalars(select(LoginAttemptRow.at).where(
            LoginAttemptRow.username == username, LoginAttemptRow.succeeded.is_(False), LoginAttemptRow.at > user_since)))
        client_failures = list(s.scalars(select(LoginAttemptRow.at).where(
            LoginAttemptRow.client == client, LoginAttemptRow.succeeded.is_(False), LoginAttemptRow.at > since)))
        wait = max(_wait(user_failures, limit.max_failures_per_user, limit.window, now),
                   _wait(client_failures, limit.max_failures_per_client, limit.window, now))
        row = s.scalar(select(AccountRow).where(AccountRow.username == username))
        if wait:
            add_event(s, Actor(username or "(empty)", client=client), "login.refused", subject=username,
                      department=row.department if row else None, detail={"wait_minutes": wait}, at=now)
            return SignIn(None, wait)
        if row is None:
            _burn_time(password)
            ok = False
        else:
            ok = verify_password(password, row.password) and not row.disabled
        s.add(LoginAttemptRow(username=username, client=client[:64], at=now, succeeded=ok))
        actor = Actor(username or "(empty)", row.role if row else None, row.department if row else None, client)
        add_event(s, actor, "login.success" if ok else "login.failure", subject=username, at=now,
                  detail={} if ok or row is None or not row.disabled else {"disabled": True})
        return SignIn(_account(row) if ok and row is not None else None)


# --- sessions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class SessionLimits:
    idle: timedelta = timedelta(hours=1)
    absolute: timedelta = timedelta(hours=8)

    @classmethod
    def from_env(cls) -> SessionLimits:
        given = read_settings()
        return cls(timedelta(minutes=given.web_session_idle_minutes), timedelta(hours=given.web_session_max_hours))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(store: CatalogStore, account: Account, client: str = "", now: datetime | None = None) -> str:
    """A new session for `account`; returns the token for the cookie (the store keeps its hash)."""
    now = now or _now()
    token = secrets.token_urlsafe(32)
    with store.session() as s:
        s.add(WebSessionRow(token_hash=token_hash(token), account_id=account.id, created_at=now, last_seen_at=now,
                            client=client[:64]))
    return token


def session_account(
    store: CatalogStore, token: str | None, now: datetime | None = None, limits: SessionLimits | None = None,
) -> Account | None:
    """The account of a live session (its idle clock restarts), or None: unknown, expired (idle or
    past its absolute limit; then removed) or the account was disabled."""
    if not token:
        return None
    now, limits = now or _now(), limits or SessionLimits.from_env()
    with store.session() as s:
        row = s.get(WebSessionRow, token_hash(token))
        if row is None:
            return None
        account = s.get(AccountRow, row.account_id)
        if account is None or account.disabled or now - row.last_seen_at > limits.idle or now - row.created_at > limits.absolute:
            s.delete(row)
            return None
        if now - row.last_seen_at > timedelta(seconds=30):  # fewer writes: the idle clock needs no finer grain
            row.last_seen_at = now
        return _account(account)


def close_session(store: CatalogStore, token: str | None) -> None:
    if token:
        with store.session() as s:
            s.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == token_hash(token)))
