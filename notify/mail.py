"""Send notification messages over SMTP with the standard library.

The settings are passed in (the wiring reads them from Airflow's `[smtp]` configuration), so this
module reads no environment and holds no secret beyond the call. The password is never logged,
never printed and never part of an error message.
"""
from __future__ import annotations

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from common.errors import KcdataError
from notify.messages import Message

log = logging.getLogger("kcdata.notify")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send: Airflow's [smtp] options (smtp_host, smtp_port, ...), same defaults."""

    host: str
    port: int = 25
    mail_from: str = ""
    starttls: bool = True
    ssl: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0


class MailError(KcdataError):
    """The SMTP server could not be reached or refused us (names the server, never the password)."""


def to_email(message: Message, mail_from: str) -> EmailMessage:
    """The MIME message: UTF-8 plain text, subject encoded for any mail client."""
    email = EmailMessage()
    email["Subject"] = message.subject
    email["From"] = mail_from
    email["To"] = ", ".join(message.to)
    if message.cc:
        email["Cc"] = ", ".join(message.cc)
    if message.reply_to:
        email["Reply-To"] = message.reply_to
    email["Date"] = formatdate(localtime=False)
    email["Message-ID"] = make_msgid(domain=mail_from.rpartition("@")[2] or None)
    email["X-Kcdata-Kind"] = message.kind
    email["X-Kcdata-Resource"] = message.resource
    email.set_content(message.body, charset="utf-8")
    return email


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if settings.ssl:
        conn: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        conn = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        if settings.starttls:
            conn.starttls(context=context)  # fails when the server offers no TLS: never fall back to plain text
    if settings.user and settings.password:
        conn.login(settings.user, settings.password)
    return conn


def send(messages: list[Message], settings: SmtpSettings) -> list[Message]:
    """Send `messages` over one connection; the messages the server accepted, in order.

    A message whose every recipient is refused is logged and skipped; the server unreachable,
    refusing TLS or the login raises MailError."""
    if not messages:
        return []
    where = f"{settings.host}:{settings.port}"
    try:
        conn = _connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"cannot send e-mail through the SMTP server {where}: {type(exc).__name__}: {_safe(exc, settings)}") from None
    sent: list[Message] = []
    try:
        for message in messages:
            try:
                refused = conn.send_message(to_email(message, settings.mail_from), settings.mail_from, message.recipients)
            except smtplib.SMTPRecipientsRefused as exc:
                log.warning("%s: every recipient refused by %s (%s): not sent", message.subject, where, sorted(exc.recipients))
                continue
            except smtplib.SMTPResponseException as exc:
                log.warning("%s: refused by %s (%s %s): not sent", message.subject, where, exc.smtp_code, _safe(exc, settings))
                continue
            if refused:
                log.warning("%s: %s refused by %s; sent to the others", message.subject, sorted(refused), where)
            sent.append(message)
    except (OSError, smtplib.SMTPException) as exc:
        log.warning("connection to %s lost after %d message(s): %s", where, len(sent), _safe(exc, settings))
    finally:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()
    return sent


def _safe(exc: BaseException, settings: SmtpSettings) -> str:
    """An error's text without the password, should a server ever echo it back."""
    text = str(exc)
    return text.replace(settings.password, "***") if settings.password else text
