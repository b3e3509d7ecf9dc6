"""SMTP delivery of the outbox's e-mails: claim, build, send, record; with tries, backoff and leases.

A run claims a few due e-mails in a short transaction (portal/backend/ops/outbox.py `claim`), then for each one
builds the message (a renewal request gets a fresh personal link, made in that transaction and never stored),
sends it with smtplib outside any transaction, and records the outcome only while its claim still holds. A sender
that dies leaves 'sending' rows whose lease passes, and a later run takes them again; two senders never take one
row at the same time, so no e-mail is sent twice by two runs.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from sqlalchemy import Connection, func, select, update

from portal.backend.consent.purposes import current_text, get_purpose
from portal.backend.ops import messages, outbox
from portal.backend.ops.messages import Message
from portal.backend.people.duplicates import confirm_url, resolve_pending_row
from portal.backend.people.subjects import _LINK_KIND, create_link, link_token
from portal.backend.platform import tokens
from portal.backend.platform.config import Settings, mail_address
from portal.backend.platform.db.schema import asset_uses, assets, subject_links, subjects, takedowns
from portal.backend.platform.db.schema import outbox as outbox_table
from portal.backend.platform.errors import PortalError
from portal.backend.platform.organisation import Organisation, get_organisation
from portal.backend.platform.runtime import Portal

# Tries per e-mail, and the waits between them: a server that is down for a few hours loses nothing.
MAX_ATTEMPTS = 5
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
# How long a claim holds: longer than one message can take (the SMTP timeout), so only a dead sender loses it.
LEASE = timedelta(minutes=5)
SMTP_TIMEOUT_SECONDS = 30
BATCH = 20
_LINK = re.compile(r"https?://\S+[?&]link=\S+")


@dataclass(frozen=True)
class SendReport:
    """What one run of the sender did."""

    configured: bool
    sent: int = 0
    retrying: int = 0  # failed this time, tried again later
    failed: int = 0  # failed for good (MAX_ATTEMPTS reached)
    cancelled: int = 0  # could no longer be sent (person erased, nothing to send)
    lost: int = 0  # claim taken over by another sender (this one was too slow)

    @property
    def attempted(self) -> int:
        """How many e-mails this run tried."""
        return self.sent + self.retrying + self.failed + self.cancelled + self.lost


def retry_at(attempts: int, now: datetime) -> datetime | None:
    """When to try again after `attempts` failed tries, or None when the e-mail has failed for good."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return now + BACKOFF[min(attempts, len(BACKOFF)) - 1]


def send_pending(portal: Portal, *, now: datetime, limit: int | None = None) -> SendReport:
    """Deliver due e-mails until none is left or `limit` were tried; without SMTP settings nothing is touched."""
    settings = portal.settings
    if not settings.smtp_configured:
        return SendReport(configured=False)
    counts = {"sent": 0, "retrying": 0, "failed": 0, "cancelled": 0, "lost": 0}
    tried = 0
    while limit is None or tried < limit:
        size = BATCH if limit is None else min(BATCH, limit - tried)
        with portal.db.write() as conn:
            batch = outbox.claim(conn, now=now, lease=LEASE, limit=size)
        if not batch:
            break
        for row in batch:
            counts[_deliver_one(portal, row, now=now)] += 1
        tried += len(batch)
    return SendReport(configured=True, **counts)


def _deliver_one(portal: Portal, row: dict[str, Any], *, now: datetime) -> str:
    """Build, send and record one claimed e-mail; the outcome's name."""
    token, attempts = row["claim_token"], row["attempts"]
    try:
        with portal.db.write() as conn:
            message, link = _compose(conn, portal.settings, row, now=now)
    except PortalError as exc:
        with portal.db.write() as conn:
            outbox.mark_cancelled(conn, row_id=row["id"], token=token, reason=f"not sent: {exc}", now=now)
        return "cancelled"
    try:
        deliver(portal.settings, to=row["recipient"], message=message)
    except (smtplib.SMTPException, OSError) as exc:
        reason = failure_reason(exc, portal.settings)
        again = retry_at(attempts, now)
        with portal.db.write() as conn:
            if link is not None:
                _revoke(conn, link, portal.settings, now)  # the unsent renewal link: no one will ever hold it
            recorded = outbox.mark_failed_try(
                conn, row_id=row["id"], token=token, error=reason, now=now, retry_at=again
            )
        if not recorded:
            return "lost"
        return "retrying" if again is not None else "failed"
    with portal.db.write() as conn:
        recorded = outbox.mark_sent(conn, row_id=row["id"], token=token, subject=message.subject, now=now)
        if recorded and row["kind"] == "new_link" and link is not None and not row["payload"].get("keep_older"):
            _retire_older(conn, link, row["subject_id"], portal.settings, now)
    return "sent" if recorded else "lost"


def _compose(conn: Connection, settings: Settings, row: dict[str, Any], *, now: datetime) -> tuple[Message, str | None]:
    """The message for an outbox row, in the recipient's language; for a renewal also the new link it carries."""
    org = get_organisation(conn)
    default_locale = (org.locales or ["en"])[0]
    payload = row["payload"]
    person = None
    if row["subject_id"]:
        person = conn.execute(
            select(subjects.c.display_name, subjects.c.locale, subjects.c.erased_at).where(
                subjects.c.id == row["subject_id"]
            )
        ).one_or_none()
        if person is None or person.erased_at is not None:
            raise PortalError("the person was erased")
    locale = person.locale if person else default_locale
    name = person.display_name if person else None
    kind = row["kind"]
    if kind == "email":
        found = _LINK.search(str(payload.get("link") or payload.get("body") or ""))
        if found is None:
            raise PortalError("the message holds no personal link")
        return messages.welcome(org=org, locale=locale, name=name, link=found.group(0)), None
    if kind == "new_link":
        if person is None:
            raise PortalError("a new-link e-mail names no person")
        # Made now and marked as e-mailed: opening it confirms the address. Older links are revoked only once this
        # one is delivered (`_retire_older`), so a failed send never leaves the person without a working link.
        link = create_link(
            conn,
            subject_id=row["subject_id"],
            secret=settings.secret_key,
            base_url=settings.base_url,
            ttl_days=settings.link_ttl_days,
            now=now,
            keep_older=True,
            emailed=True,
        )
        kept = bool(payload.get("keep_older"))
        return messages.new_link(org=org, locale=locale, name=name, link=link, kept_older=kept), link
    if kind == "confirm_changes":
        if person is None:
            raise PortalError("a confirmation request names no person")
        # The link is made now from the waiting change (never stored); a change already used or expired is not sent.
        pending = resolve_pending_row(conn, str(payload.get("pending") or ""), now=now)
        link = confirm_url(
            pending_id=pending.id, expires_at=pending.expires_at, secret=settings.secret_key, base_url=settings.base_url
        )
        expires = pending.expires_at.date().isoformat()
        return messages.confirm_changes(org=org, locale=locale, name=name, link=link, expires=expires), None
    if kind == "renewal":
        if person is None:
            raise PortalError("a renewal request names no person")
        code = str(payload.get("purpose", ""))
        purpose = get_purpose(conn, code)
        title = current_text(conn, purpose.id, locale).title
        link = create_link(
            conn,
            subject_id=row["subject_id"],
            secret=settings.secret_key,
            base_url=settings.base_url,
            ttl_days=settings.link_ttl_days,
            now=now,
            keep_older=True,
        )
        return (
            messages.renewal(org=org, locale=locale, name=name, purpose=title, payload=payload, link=link),
            link,
        )
    if kind == "digest":
        failed = conn.execute(
            select(func.count())
            .select_from(outbox_table)
            .where(outbox_table.c.status == "failed", outbox_table.c.kind.in_(outbox.MAIL_KINDS))
        ).scalar_one()
        day = row["created_at"].date().isoformat()
        return messages.digest(org=org, locale=default_locale, payload=payload, day=day, failed=int(failed)), None
    if kind == "expiry":
        if person is None:
            raise PortalError("an expiry notice names no person")
        purpose = get_purpose(conn, str(payload.get("purpose", "")))
        link = _fresh_link(conn, settings, row["subject_id"], now)
        return (
            messages.expiry(
                org=org,
                locale=locale,
                name=name,
                purpose=current_text(conn, purpose.id, locale).title,
                valid_until=str(payload.get("valid_until", "")),
                link=link,
            ),
            link,
        )
    if kind == "erasure_confirmation":
        # The person's row is blank by now: the language came in the payload, the address is the row's recipient.
        return messages.erasure_confirmation(org=org, locale=str(payload.get("locale") or default_locale)), None
    if kind == "takedown_notice":
        return _takedown_notice(conn, settings, org, default_locale, payload), None
    if kind == "not_me_notice":
        # A person said a photo is not them: the photo as it is now (no name: the notice is about a face to review).
        filename = conn.execute(select(assets.c.filename).where(assets.c.id == row["asset_id"])).scalar()
        if filename is None:
            raise PortalError("the photo no longer exists")
        faces = len(payload.get("detections") or []) or 1
        link = settings.base_url.rstrip("/") + "/photos"
        return (
            messages.not_me_notice(
                org=org, locale=default_locale, asset_id=row["asset_id"], filename=filename, faces=faces, link=link
            ),
            None,
        )
    raise PortalError(f"no e-mail is made for kind {kind!r}")


def _fresh_link(conn: Connection, settings: Settings, subject_id: str, now: datetime) -> str:
    """A new personal link for a message, made at send time and never stored (older links keep working)."""
    return create_link(
        conn,
        subject_id=subject_id,
        secret=settings.secret_key,
        base_url=settings.base_url,
        ttl_days=settings.link_ttl_days,
        now=now,
        keep_older=True,
    )


def _takedown_notice(
    conn: Connection, settings: Settings, org: Organisation, locale: str, payload: dict[str, Any]
) -> Message:
    """The notice for one takedown task, as the database says now; a task already closed is not announced."""
    task = conn.execute(
        select(
            takedowns.c.kind,
            takedowns.c.cause,
            takedowns.c.closed_at,
            takedowns.c.purpose_id,
            assets.c.id.label("asset_id"),
            assets.c.filename,
            asset_uses.c.place,
        )
        .join(assets, assets.c.id == takedowns.c.asset_id)
        .join(asset_uses, asset_uses.c.id == takedowns.c.use_id)
        .where(takedowns.c.id == int(payload.get("task") or 0))
    ).one_or_none()
    if task is None:
        raise PortalError("the takedown task no longer exists")
    if task.closed_at is not None:
        raise PortalError("the takedown task was closed before its notice was sent")
    return messages.takedown_notice(
        org=org,
        locale=locale,
        asset_id=task.asset_id,
        filename=task.filename,
        place=task.place,
        purpose=current_text(conn, task.purpose_id, locale).title,
        cause=task.cause,
        partner=task.kind == "notify_partner",
        link=settings.base_url.rstrip("/") + "/takedowns",
    )


def _retire_older(conn: Connection, link: str, subject_id: str, settings: Settings, now: datetime) -> None:
    """Revoke the person's links other than the one just delivered (a lost link may be in someone else's hands)."""
    try:
        link_id = tokens.verify(link_token(link), secret=settings.secret_key, kind=_LINK_KIND, now=now).get("lid")
    except PortalError:
        return
    conn.execute(
        update(subject_links)
        .where(
            subject_links.c.subject_id == subject_id,
            subject_links.c.id != str(link_id),
            subject_links.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )


def _revoke(conn: Connection, link: str, settings: Settings, now: datetime) -> None:
    """Revoke the link an unsent message carried."""
    token = link.split("link=", 1)[1]
    try:
        link_id = tokens.verify(token, secret=settings.secret_key, kind=_LINK_KIND, now=now).get("lid")
    except PortalError:
        return
    conn.execute(update(subject_links).where(subject_links.c.id == str(link_id)).values(revoked_at=now))


def build_email(settings: Settings, *, to: str, message: Message) -> EmailMessage:
    """The MIME message: plain text with an HTML alternative."""
    mail = EmailMessage()
    mail["From"] = settings.smtp_from
    mail["To"] = to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    domain = (mail_address(settings.smtp_from) or "portal.invalid").rsplit("@", 1)[-1]
    mail["Message-ID"] = make_msgid(domain=domain)
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies to the portal
    mail.set_content(message.text)
    mail.add_alternative(message.html, subtype="html")
    return mail


def deliver(settings: Settings, *, to: str, message: Message) -> None:
    """Send one message through the configured SMTP server; smtplib's or the socket's error when it fails."""
    host, port = settings.smtp_host, settings.smtp_port_or_default
    smtp: smtplib.SMTP
    if settings.smtp_security == "tls":
        smtp = smtplib.SMTP_SSL(host, port, timeout=SMTP_TIMEOUT_SECONDS, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_SECONDS)
    with smtp:
        if settings.smtp_security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        if settings.smtp_user:
            smtp.login(settings.smtp_user, settings.smtp_password)
        smtp.send_message(build_email(settings, to=to, message=message))


def failure_reason(exc: BaseException, settings: Settings) -> str:
    """Why a try failed, for staff: the error and the server's answer, never the password or the message."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = [f"{code} {_text(msg)}" for code, msg in exc.recipients.values()]
        reason = f"recipient refused: {'; '.join(answers)}"
    elif isinstance(exc, smtplib.SMTPResponseException):
        reason = f"{type(exc).__name__}: {exc.smtp_code} {_text(exc.smtp_error)}"
    elif isinstance(exc, ConnectionRefusedError):
        reason = f"connection refused by {settings.smtp_host}:{settings.smtp_port_or_default}"
    else:
        reason = f"{type(exc).__name__}: {exc}"
    for secret in (settings.smtp_password, settings.secret_key):
        if secret:
            reason = reason.replace(secret, "***")
    return _LINK.sub("<link>", reason)[:300]


def _text(value: bytes | str) -> str:
    """A server answer as text."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
