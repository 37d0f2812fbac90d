"""Airflow's [smtp] settings, for the flow's e-mails: the flow sends with what it is handed and never
reads Airflow's configuration itself.

SMTP comes from Airflow's `[smtp]` configuration (smtp_host, smtp_port, smtp_mail_from,
smtp_starttls, smtp_ssl, smtp_user, smtp_password, smtp_timeout), i.e. the environment variables
`AIRFLOW__SMTP__SMTP_HOST`…, and inside Airflow also airflow.cfg.
"""
from __future__ import annotations

import os
import sys

from catalog.entries import load_bureau
from notify.mail import SmtpSettings

# What Airflow's config template writes into every airflow.cfg: defaults, not anybody's choice.
AIRFLOW_TEMPLATE_DEFAULTS = {"smtp_host": "localhost", "smtp_mail_from": "airflow@example.com"}


def _smtp_option(key: str) -> str | None:
    """One [smtp] option: the environment variable Airflow itself reads first, then, when Airflow is
    already loaded in this process (inside a task), Airflow's configuration, where the template's
    defaults count as unset. Importing Airflow just for this would cost the CLI seconds."""
    value = os.environ.get(f"AIRFLOW__SMTP__{key.upper()}")
    if value is not None or "airflow.configuration" not in sys.modules:
        return value
    from airflow.configuration import conf

    value = conf.get("smtp", key, fallback=None)
    return None if value == AIRFLOW_TEMPLATE_DEFAULTS.get(key) else value


def _flag(value: str | None, default: bool) -> bool:
    return default if value is None or value == "" else value.strip().lower() in ("1", "true", "yes", "on")


def smtp_settings() -> SmtpSettings | None:
    """Airflow's [smtp] settings, or None when no SMTP host is configured.

    A host counts as configured when `AIRFLOW__SMTP__SMTP_HOST` is set, or Airflow's configuration
    names a host other than the `localhost` its template writes by default (to send through a
    local MTA, set the variable to `localhost` explicitly). Defaults are Airflow's (port 25,
    STARTTLS on, timeout 30 s); the sender defaults to the bureau's address."""
    host = _smtp_option("smtp_host")
    if not host:
        return None
    return SmtpSettings(
        host=host,
        port=int(_smtp_option("smtp_port") or 25),
        mail_from=_smtp_option("smtp_mail_from") or load_bureau().email,
        starttls=_flag(_smtp_option("smtp_starttls"), True),
        ssl=_flag(_smtp_option("smtp_ssl"), False),
        user=_smtp_option("smtp_user") or None,
        password=_smtp_option("smtp_password") or None,
        timeout=float(_smtp_option("smtp_timeout") or 30),
    )
