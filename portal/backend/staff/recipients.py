"""Recipients and processors of the personal data (Art. 30(1)(d)-(e)): stored rows, and those the configuration implies.

Rows an admin records (partners, social networks, a printer) live in `recipients`. Processors that follow from how
this deployment is configured (Supabase in hosted mode, the SMTP provider) are derived from the settings each time
they are needed and never stored, so the record of processing cannot drift from the running configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from portal.backend.platform.config import Settings
from portal.backend.platform.db.schema import RECIPIENT_KINDS, purposes, recipients
from portal.backend.platform.errors import NotFound, ValidationError
from portal.backend.platform.organisation import EU_EEA

# Art. 46 safeguards and Art. 45 adequacy decisions staff pick from; any other text may be typed in.
SAFEGUARD_EXAMPLES = (
    "EU standard contractual clauses (2021/914)",
    "Adequacy decision (Art. 45), e.g. EU-US Data Privacy Framework (2023/1795)",
    "Binding corporate rules (Art. 47)",
)
NAME_MAX, SERVICE_MAX, SAFEGUARD_MAX = 200, 300, 300


@dataclass(frozen=True)
class Recipient:
    """One recipient or processor; `purpose` None means every purpose, `configured` that settings imply it."""

    id: int | None
    purpose: str | None
    name: str
    country: str
    kind: str
    service: str
    transfer_safeguard: str
    configured: bool = False

    @property
    def is_transfer(self) -> bool:
        """True when the country is known and outside the EU/EEA (a transfer under Chapter V)."""
        return bool(self.country) and self.country not in EU_EEA


def in_eu_eea(country: str) -> bool:
    """True when the ISO code names an EU or EEA state."""
    return country.upper() in EU_EEA


def _clean(name: str, country: str, kind: str, service: str, safeguard: str) -> tuple[str, str, str, str, str]:
    """Checked and normalised values, or ValidationError saying what is wrong."""
    name, service, safeguard = name.strip(), service.strip(), safeguard.strip()
    country = country.strip().upper()
    if not name:
        raise ValidationError("A recipient needs a name.")
    if len(name) > NAME_MAX or len(service) > SERVICE_MAX or len(safeguard) > SAFEGUARD_MAX:
        raise ValidationError("The name, service or safeguard is too long.")
    if len(country) != 2 or not country.isascii() or not country.isalpha():
        raise ValidationError(f"Country must be a two-letter ISO code (SE, IE, US), not {country!r}.")
    if kind not in RECIPIENT_KINDS:
        raise ValidationError(f"Kind must be one of {', '.join(RECIPIENT_KINDS)}, not {kind!r}.")
    if country in EU_EEA:
        # No transfer, so no safeguard: a stale one would make the record claim a transfer that does not happen.
        safeguard = ""
    elif not safeguard:
        raise ValidationError(
            f"{country} is outside the EU/EEA: name the transfer safeguard (standard contractual clauses, "
            "an adequacy decision or binding corporate rules)."
        )
    return name, country, kind, service, safeguard


def _purpose_id(conn: Connection, code: str | None) -> int | None:
    """The id of a purpose code (None: every purpose)."""
    if not code:
        return None
    pid = conn.execute(select(purposes.c.id).where(purposes.c.code == code)).scalar()
    if pid is None:
        raise ValidationError(f"There is no purpose {code!r}.")
    return int(pid)


def _check_unique(conn: Connection, purpose_id: int | None, name: str, *, except_id: int | None = None) -> None:
    """Refuse a second row with the same name for the same purpose (NULLs never collide in a UNIQUE index)."""
    same_purpose = recipients.c.purpose_id.is_(None) if purpose_id is None else recipients.c.purpose_id == purpose_id
    stmt = select(recipients.c.id).where(same_purpose, recipients.c.name == name)
    if except_id is not None:
        stmt = stmt.where(recipients.c.id != except_id)
    if conn.execute(stmt).first():
        raise ValidationError(f"{name} is already recorded for this purpose.")


def list_recipients(conn: Connection) -> list[Recipient]:
    """Stored recipients, all-purpose rows first, then by purpose and name."""
    rows = conn.execute(
        select(recipients, purposes.c.code)
        .select_from(recipients.outerjoin(purposes, purposes.c.id == recipients.c.purpose_id))
        .order_by(recipients.c.purpose_id.is_not(None), purposes.c.sort_order, recipients.c.name)
    ).all()
    return [Recipient(r.id, r.code, r.name, r.country, r.kind, r.service, r.transfer_safeguard) for r in rows]


def get_recipient(conn: Connection, recipient_id: int) -> Recipient:
    """One stored recipient, or NotFound."""
    for r in list_recipients(conn):
        if r.id == recipient_id:
            return r
    raise NotFound(f"There is no recipient {recipient_id}.")


def add_recipient(
    conn: Connection,
    *,
    purpose: str | None,
    name: str,
    country: str,
    kind: str,
    service: str = "",
    transfer_safeguard: str = "",
    now: datetime,
) -> Recipient:
    """Store a recipient in the caller's transaction."""
    name, country, kind, service, safeguard = _clean(name, country, kind, service, transfer_safeguard)
    pid = _purpose_id(conn, purpose)
    _check_unique(conn, pid, name)
    new_id = conn.execute(
        insert(recipients).values(
            purpose_id=pid,
            name=name,
            country=country,
            kind=kind,
            service=service,
            transfer_safeguard=safeguard,
            created_at=now,
        )
    ).inserted_primary_key
    assert new_id is not None
    return get_recipient(conn, int(new_id[0]))


def update_recipient(
    conn: Connection,
    *,
    recipient_id: int,
    purpose: str | None,
    name: str,
    country: str,
    kind: str,
    service: str = "",
    transfer_safeguard: str = "",
) -> tuple[Recipient, Recipient]:
    """Change a stored recipient in the caller's transaction; returns (before, after)."""
    before = get_recipient(conn, recipient_id)
    name, country, kind, service, safeguard = _clean(name, country, kind, service, transfer_safeguard)
    pid = _purpose_id(conn, purpose)
    _check_unique(conn, pid, name, except_id=recipient_id)
    conn.execute(
        update(recipients)
        .where(recipients.c.id == recipient_id)
        .values(purpose_id=pid, name=name, country=country, kind=kind, service=service, transfer_safeguard=safeguard)
    )
    return before, get_recipient(conn, recipient_id)


def remove_recipient(conn: Connection, *, recipient_id: int) -> Recipient:
    """Delete a stored recipient in the caller's transaction; returns what was removed."""
    before = get_recipient(conn, recipient_id)
    conn.execute(delete(recipients).where(recipients.c.id == recipient_id))
    return before


def configured_processors(settings: Settings, *, dialect: str) -> list[Recipient]:
    """Processors this deployment's configuration implies: Supabase (hosted mode, or a Supabase database) and the
    SMTP provider (only while e-mail is configured). Country and safeguard come from settings; empty when unset."""
    found: list[Recipient] = []
    supabase_db = dialect == "postgresql" and "supabase." in settings.database_url
    if settings.hosted or supabase_db:
        parts = [
            label
            for label, used in (
                ("database", supabase_db),
                ("file storage", settings.blob_backend == "supabase"),
                ("staff sign-in", settings.auth_backend == "supabase"),
            )
            if used
        ]
        country = settings.supabase_country.upper()
        found.append(
            Recipient(
                None,
                None,
                "Supabase Inc.",
                country,
                "processor",
                "Hosting: " + ", ".join(parts),
                settings.supabase_safeguard if country and country not in EU_EEA else "",
                configured=True,
            )
        )
    if settings.smtp_configured:
        country = settings.smtp_provider_country.upper()
        found.append(
            Recipient(
                None,
                None,
                settings.smtp_provider or settings.smtp_host,
                country,
                "processor",
                f"Sends the portal's e-mail (SMTP server {settings.smtp_host})",
                settings.smtp_provider_safeguard if country and country not in EU_EEA else "",
                configured=True,
            )
        )
    return found
