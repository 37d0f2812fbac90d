"""The one Jinja2 environment of the catalog web: autoescaping on, the bilingual filters and
the globals every page's layout needs (so templates never reach into settings themselves)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePath
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from catalog.freshness import duration_text
from common.problems import hide_paths

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
SITE_NAME_ZH = "知识城数据资源目录"
SITE_NAME_EN = "Knowledge City data-resource catalog"


def format_number(value: Any) -> str:
    """12345 -> '12,345'; None -> '—' (a missing count reads as a dash, not 'None')."""
    if value is None or value == "":
        return "—"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def format_percent(value: Any, digits: int = 1) -> str:
    """0.0523 -> '5.2%'."""
    if value is None:
        return "—"
    return f"{float(value) * 100:.{digits}f}%"


def format_datetime(value: Any) -> str:
    """A datetime (or ISO text) as 'YYYY-MM-DD HH:MM UTC'; naive ones are UTC (the store's convention)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
        return value.strftime("%Y-%m-%d %H:%M") + " UTC"
    return str(value)


def file_name(path: Any) -> str:
    """A delivered file as its department knows it: the name, never the server's folders (the
    inbox copy is archived away anyway)."""
    return PurePath(str(path or "")).name


def format_duration(value: Any) -> str:
    """A timedelta as '3 天 4 小时 (3 d 4 h)' — how long something is late."""
    if not isinstance(value, timedelta):
        return "—"
    return f"{duration_text(value, 'zh')} ({duration_text(value, 'en')})"


def flash_messages(request: Any) -> list[tuple[str, str]]:
    """request.state.flash as (level, text) pairs; accepts a string, a list of strings, of
    (level, text) pairs or of {level, message} dicts, so the sign-in code chooses freely."""
    raw = getattr(request.state, "flash", None)
    if not raw:
        return []
    if isinstance(raw, (str, dict, tuple)):
        raw = [raw]
    messages: list[tuple[str, str]] = []
    for item in raw:
        if isinstance(item, str):
            messages.append(("info", item))
        elif isinstance(item, dict):
            messages.append((str(item.get("level", "info")), str(item.get("message") or item.get("text") or "")))
        elif isinstance(item, (tuple, list)) and len(item) == 2:
            messages.append((str(item[0]), str(item[1])))
        else:
            messages.append(("info", str(item)))
    return messages


def current_account(request: Any) -> Any:
    """The signed-in account the accounts middleware put on request.state, or None."""
    return getattr(request.state, "account", None)


def account_label(account: Any) -> str:
    """The name to show for an account, whatever attribute the accounts module uses."""
    for attr in ("display_name", "name", "username", "login"):
        value = getattr(account, attr, None)
        if value is None and isinstance(account, dict):
            value = account.get(attr)
        if value:
            return str(value)
    return str(account)


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(enabled_extensions=("html", "xml", "j2"), default_for_string=True, default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=format_number,
        percent=format_percent,
        dt=format_datetime,
        duration=format_duration,
        file_name=file_name,
        no_paths=hide_paths,
    )
    env.globals.update(
        site_name_zh=SITE_NAME_ZH,
        site_name_en=SITE_NAME_EN,
        flash_messages=flash_messages,
        current_account=current_account,
        account_label=account_label,
    )
    return env


templates = Jinja2Templates(env=build_environment())
