"""One person, one record (issue 15 item 4): a second form with a confirmed address waits for the person's
confirmation by e-mail, likely duplicates are listed, and staff merge them; on SQLite and PostgreSQL, with a real
SMTP server."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.backend.consent.records import Decision
from portal.backend.consent.services import change_consent, issue_receipt
from portal.backend.consent.status import subject_consents
from portal.backend.ops.mailer import send_pending
from portal.backend.people.duplicates import PENDING_DAYS
from portal.backend.people.queries import likely_duplicates, list_subjects
from portal.backend.people.services import (
    confirm_pending_change,
    erase_subject,
    export_subject,
    merge_subjects,
    open_pending_change,
    open_personal_link,
    register_subject,
    view_subject,
)
from portal.backend.people.subjects import link_token
from portal.backend.photos import services as photo_services
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import (
    audit_log,
    consent_ledger,
    detections,
    outbox,
    pending_changes,
    receipts,
    subject_links,
    subjects,
)
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import (
    AuthError,
    ConsentStateError,
    GuardianRequired,
    TokenError,
    ValidationError,
)
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from tests.factories import make_portal, make_staff
from tests.smtp import Mailbox, smtp_server, text_part
from tests.test_takedowns import photo, tasks

__all__ = ["smtp_server"]  # the fixture, imported for pytest to find
LINK = re.compile(r"https?://\S+\?link=\S+")
CONFIRM = re.compile(r"https?://\S+\?confirm=(\S+)")
ADDRESS = "ada@example.org"


def _portal(db: Database, tmp_path: Path, box: Mailbox) -> Portal:
    return make_portal(db, tmp_path / "blobs", **box.settings())


def _form(portal: Portal, choices: dict[str, bool], *, email: str | None = ADDRESS, **kw: object):  # type: ignore[no-untyped-def]
    """The public form sent by a person."""
    return register_subject(
        portal,
        actor=Actor(kind="subject"),
        channel="qr_form",
        name=str(kw.pop("name", "Ada Lovelace")),
        email=email,
        choices=choices,
        **kw,  # type: ignore[arg-type]
    )


def _confirmed_person(portal: Portal, box: Mailbox, choices: dict[str, bool]) -> str:
    """A person registered on the form whose address is confirmed (they opened the welcome e-mail's link)."""
    person = _form(portal, choices).subject.id
    assert send_pending(portal, now=utcnow()).sent >= 1
    [welcome] = [u for m in box.to(ADDRESS) for u in LINK.findall(text_part(m))]
    open_personal_link(portal, token=link_token(welcome))
    return person


def _confirm_token(box: Mailbox, portal: Portal) -> str:
    """Deliver the waiting e-mails; the token of the (newest) confirmation link."""
    send_pending(portal, now=utcnow())
    mails = [m for m in box.to(ADDRESS) if "confirm" in m["Subject"].lower()]
    assert mails, "no confirmation e-mail arrived"
    [token] = CONFIRM.findall(text_part(mails[-1]))
    return str(token)


def _count(db: Database, table, *where) -> int:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _status(portal: Portal, person: str) -> dict[str, str]:
    with portal.db.read() as conn:
        statuses = subject_consents(conn, person, utcnow())
    return {s.purpose_code: s.status for s in statuses if s.scope_asset_id is None and s.status != "unknown"}


def test_a_second_form_with_a_confirmed_address_changes_the_same_person_after_confirmation(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    person = _confirmed_person(portal, smtp_server, {"website": True, "print": False})
    # Typed differently: the address is compared trimmed and without case.
    again = _form(portal, {"website": False, "print": True, "internal": False}, email="  ADA@Example.ORG ")
    assert again.pending and again.link_url is None and again.receipt_id is None and again.entries == []
    assert _count(org_db, subjects) == 1  # no second person
    assert _status(portal, person) == {"website": "given", "print": "refused"}  # nothing changes before confirming

    token = _confirm_token(smtp_server, portal)
    mail = [m for m in smtp_server.to(ADDRESS) if "confirm" in m["Subject"].lower()][-1]
    assert "Ada Lovelace" in text_part(mail) and "link=" not in text_part(mail)
    with org_db.read() as conn:
        row = conn.execute(select(outbox).where(outbox.c.kind == "confirm_changes")).one()
    assert "confirm=" not in row.payload  # the link is made when the e-mail is sent, never kept
    view = open_pending_change(portal, token=token)
    assert view.subject_id == person
    assert sorted(view.changes) == [("internal", "refused"), ("print", "given"), ("website", "withdrawn")]

    done = confirm_pending_change(portal, token=token)
    assert done.subject.id == person and done.receipt_id is not None
    assert _status(portal, person) == {"website": "withdrawn", "print": "given", "internal": "refused"}
    assert {(e.channel, e.actor) for e in done.entries} == {("qr_form", "subject")}
    assert all(json.loads(e.evidence)["confirmed_by"] == "email_link" for e in done.entries)
    with org_db.read() as conn:
        state = conn.execute(select(receipts.c.state).where(receipts.c.id == done.receipt_id)).scalar()
    # The receipt row is written with the change; its files are made on the first download (off the request path).
    assert state == "pending" and issue_receipt(portal, receipt_id=done.receipt_id).issued
    # One use: the second time says so, in words the public page shows in the person's language.
    with pytest.raises(TokenError) as used:
        confirm_pending_change(portal, token=token)
    assert used.value.reason == "used"
    assert _count(org_db, consent_ledger) == 2 + 3


def test_a_double_submit_waits_once_and_an_expired_confirmation_records_nothing(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    person = _confirmed_person(portal, smtp_server, {"website": True})
    sid = "0b5e7c1e-5a55-4c1e-9a55-000000000001"
    first = _form(portal, {"website": False}, submission_id=sid)
    second = _form(portal, {"website": False}, submission_id=sid)
    assert first.pending and second.pending
    assert _count(org_db, pending_changes) == 1 and _count(org_db, outbox, outbox.c.kind == "confirm_changes") == 1
    token = _confirm_token(smtp_server, portal)
    later = utcnow() + timedelta(days=PENDING_DAYS, minutes=1)
    with pytest.raises(TokenError) as expired:
        confirm_pending_change(portal, token=token, now=later)
    assert expired.value.reason == "expired"
    assert _status(portal, person) == {"website": "given"}


def test_an_unconfirmed_address_makes_a_new_person_as_before(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    first = _form(portal, {"website": True})
    second = _form(portal, {"website": False})
    assert not second.pending and second.subject.id != first.subject.id and second.link_url
    assert _count(org_db, subjects) == 2 and _count(org_db, pending_changes) == 0


def test_a_child_still_needs_the_guardian_on_the_second_form(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    year = utcnow().year - 10
    child = register_subject(
        portal,
        actor=Actor(kind="guardian"),
        channel="qr_form",
        name="Kim Child",
        email=ADDRESS,
        choices={"website": True},
        birth_year=year,
        birth_month=1,
        is_minor=True,
        guardian_name="Pat Parent",
    ).subject.id
    send_pending(portal, now=utcnow())
    [welcome] = [u for m in smtp_server.to(ADDRESS) for u in LINK.findall(text_part(m))]
    open_personal_link(portal, token=link_token(welcome))
    # The form claims an adult, but the person's own record says child: a guardian must give.
    with pytest.raises(GuardianRequired):
        _form(portal, {"print": True}, name="Kim Child", birth_year=utcnow().year - 30, birth_month=1)
    assert _count(org_db, pending_changes) == 0
    waiting = _form(
        portal,
        {"print": True},
        name="Kim Child",
        birth_year=year,
        birth_month=1,
        is_minor=True,
        guardian_name="Pat Parent",
    )
    assert waiting.pending
    done = confirm_pending_change(portal, token=_confirm_token(smtp_server, portal))
    assert [(e.purpose_id is not None, e.actor) for e in done.entries] == [(True, "guardian")]
    assert _status(portal, child)["print"] == "given"
    with org_db.read() as conn:
        # The guardian's name is sealed into the entries and leaves the waiting row once used.
        assert conn.execute(select(pending_changes.c.guardian_name)).scalar() is None


def test_a_selfie_on_a_second_form_is_not_kept(org_db: Database, smtp_server: Mailbox, tmp_path: Path) -> None:
    from portal.backend.platform.db.schema import subject_templates

    portal = _portal(org_db, tmp_path, smtp_server)
    _confirmed_person(portal, smtp_server, {"website": True})
    from tests.imagery import sample_bytes  # a real face, read by the real detector

    result = _form(portal, {"face_matching": True}, selfie=sample_bytes("grace_hopper"))
    assert result.pending and not result.template_enrolled
    assert _count(org_db, subject_templates) == 0


def test_erasure_deletes_waiting_choices(org_db: Database, smtp_server: Mailbox, tmp_path: Path) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    person = _confirmed_person(portal, smtp_server, {"website": True})
    _form(portal, {"website": False})
    token = _confirm_token(smtp_server, portal)
    erase_subject(portal, actor=Actor.operator("t"), subject_id=person)
    assert _count(org_db, pending_changes) == 0
    with pytest.raises(TokenError):
        open_pending_change(portal, token=token)


def _two_people(portal: Portal) -> tuple[str, str]:
    """The same Ada twice (unconfirmed addresses, so the second form made a second person)."""
    a = _form(portal, {"website": True, "print": True}, event_id=None).subject.id
    b = _form(portal, {"website": False, "internal": True}, email="ADA@example.org").subject.id
    return a, b


def test_duplicates_are_listed_by_address_and_by_name_at_one_event(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    a, b = _two_people(portal)
    other = _form(portal, {"website": True}, email=None, name="Grace Hopper").subject.id
    groups = likely_duplicates(portal)
    assert [(g.reason, [p.id for p in g.people]) for g in groups] == [("email", [a, b])]
    manager = make_staff(org_db)
    merge_subjects(portal, actor=manager, keep_id=a, drop_id=b)
    assert likely_duplicates(portal) == []
    assert other in {r.id for r in list_subjects(portal, now=utcnow()).rows}


def test_merge_keeps_both_histories_under_one_person(org_db: Database, smtp_server: Mailbox, tmp_path: Path) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    a, b = _two_people(portal)
    manager = make_staff(org_db)
    with pytest.raises(AuthError):
        merge_subjects(portal, actor=make_staff(org_db, role="staff"), keep_id=a, drop_id=b)
    result = merge_subjects(portal, actor=manager, keep_id=a, drop_id=b)
    # One entry per purpose the duplicate decided on, with the newer decision of the two (B's for website and
    # internal); print, which only A decided, is not restated.
    assert sorted(e.action for e in result.entries) == ["given", "refused"]
    assert _status(portal, a) == {"website": "refused", "print": "given", "internal": "given"}
    for e in result.entries:
        assert (e.subject_id, e.channel, e.actor) == (a, "staff", manager.ref)
        assert json.loads(e.evidence)["merge"]["from"] == b
    with org_db.read() as conn:
        row = conn.execute(select(subjects).where(subjects.c.id == b)).one()
        audited = conn.execute(select(audit_log).where(audit_log.c.action == "merge_subjects")).one()
        revoked = conn.execute(
            select(func.count())
            .select_from(subject_links)
            .where(subject_links.c.subject_id == b, subject_links.c.revoked_at.is_(None))
        ).scalar_one()
        cancelled = conn.execute(select(outbox.c.status).where(outbox.c.subject_id == b)).scalars().all()
        receipt = conn.execute(select(receipts.c.state).where(receipts.c.id == result.receipt_id)).scalar()
    assert (row.merged_into, row.display_name, row.email, row.phone) == (a, None, None, None)
    assert row.merged_at is not None and row.erased_at is None
    assert audited.target_id == a and json.loads(audited.detail)["merged"] == b
    assert revoked == 0 and set(cancelled) <= {"cancelled"}
    assert receipt == "pending" and issue_receipt(portal, receipt_id=result.receipt_id or "").issued
    # A's history (staff view and export) shows B's old entries too.
    detail = view_subject(portal, actor=manager, subject_id=a)
    assert {h.entry.subject_id for h in detail.history} == {a, b}
    assert len(detail.history) == 2 + 2 + 2
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(export_subject(portal, actor=manager, subject_id=a))) as z:
        names = " ".join(z.namelist())
        blob = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist() if n.endswith((".json", ".csv")))
    assert b in blob and "history" in names
    assert "secret" not in blob.lower()
    # B is gone from lists and cannot get new consents.
    assert [r.id for r in list_subjects(portal, now=utcnow()).rows] == [a]
    with pytest.raises(ConsentStateError, match="merged"):
        change_consent(portal, actor=manager, subject_id=b, decisions=[Decision("website", "given")], channel="staff")


def test_merge_refusals(org_db: Database, smtp_server: Mailbox, tmp_path: Path) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    manager = make_staff(org_db)
    a, b = _two_people(portal)
    with pytest.raises(ValidationError, match="themselves"):
        merge_subjects(portal, actor=manager, keep_id=a, drop_id=a)
    child = register_subject(
        portal,
        actor=Actor(kind="guardian"),
        channel="qr_form",
        name="Ada Lovelace",
        choices={"website": True},
        birth_year=utcnow().year - 9,
        birth_month=1,
        is_minor=True,
        guardian_name="Pat Parent",
    ).subject.id
    with pytest.raises(ValidationError, match="minor"):
        merge_subjects(portal, actor=manager, keep_id=a, drop_id=child)
    merge_subjects(portal, actor=manager, keep_id=a, drop_id=b)
    with pytest.raises(ConsentStateError, match="already merged"):
        merge_subjects(portal, actor=manager, keep_id=a, drop_id=b)
    erase_subject(portal, actor=manager, subject_id=child)
    with pytest.raises(ConsentStateError, match="erased"):
        merge_subjects(portal, actor=manager, keep_id=a, drop_id=child)
    # Erasing the kept person takes the merged duplicate's receipts with it.
    erase_subject(portal, actor=manager, subject_id=a)
    assert _count(org_db, receipts, receipts.c.subject_id.in_((a, b))) == 0


def test_merge_moves_faces_and_opens_the_takedown_the_kept_decision_calls_for(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    staff = make_staff(org_db, role="staff")
    manager = make_staff(org_db)
    # B said yes to the website; A, later, said no. B is the one recognised in the published photo.
    b = _form(portal, {"website": True}).subject.id
    a = _form(portal, {"website": False}).subject.id
    asset_id, [face] = photo(portal, 1)
    photo_services.link_face(portal, actor=staff, detection_id=face, subject_id=b)
    use = photo_services.publish_photo(portal, actor=staff, asset_id=asset_id, purpose="website", where="web")
    assert tasks(org_db, open_only=True) == []
    merge_subjects(portal, actor=manager, keep_id=a, drop_id=b)
    with org_db.read() as conn:
        assert conn.execute(select(detections.c.subject_id).where(detections.c.id == face)).scalar() == a
        assert risk_index.check(conn) == []
    opened = tasks(org_db, open_only=True)
    assert [(t.kind, t.use_id) for t in opened] == [("takedown", use)]


def test_cli_lists_duplicates_and_merges_them(db_url: str) -> None:
    from tests.test_cli import cli

    assert cli(db_url, "demo").returncode == 0
    add = cli(db_url, "subjects", "add", "--name", "Noah B.", "--email", " NOAH@example.org", "--consent", "print")
    assert add.returncode == 0, add.stderr
    listed = cli(db_url, "subjects", "duplicates", "--json")
    assert listed.returncode == 0, listed.stderr
    [group] = json.loads(listed.stdout)
    assert group["reason"] == "email" and [p["name"] for p in group["people"]] == ["Noah Berg", "Noah B."]
    keep, drop = (p["id"] for p in group["people"])
    refused = cli(db_url, "subjects", "merge", keep, drop)  # no terminal, no --yes: nothing happens
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert cli(db_url, "subjects", "merge", keep, keep, "--yes").returncode != 0
    merged = cli(db_url, "subjects", "merge", keep, drop, "--yes")
    assert merged.returncode == 0, merged.stderr
    assert f"Merged {drop} into {keep}" in merged.stdout
    assert json.loads(cli(db_url, "subjects", "duplicates", "--json").stdout) == []
    shown = json.loads(cli(db_url, "subjects", "show", keep, "--json").stdout)
    status = {c["purpose_code"]: c["status"] for c in shown["consents"] if c["scope_asset_id"] is None}
    assert status["print"] == "given" and status["website"] == "given"
    assert "group(s)" in cli(db_url, "subjects", "duplicates").stdout


def test_every_token_error_is_said_in_english_and_swedish() -> None:
    from portal.backend.i18n import MESSAGES
    from tests.conftest import ROOT

    # Every case a TokenError names (and the default) has its sentence for the public pages in both languages.
    source = "\n".join(p.read_text() for p in (ROOT / "portal" / "backend").rglob("*.py"))
    raised = re.findall(r'(?:TokenError|super\(\).__init__)\((?:[^()]|\([^()]*\))*?reason="([a-z_]+)"', source)
    reasons = set(raised) | {"invalid"}
    assert {"used", "expired", "withdrawn", "damaged", "qr_replaced"} <= reasons
    for locale in ("en", "sv"):
        missing = [r for r in sorted(reasons) if f"token.{r}" not in MESSAGES[locale]]
        assert missing == [], locale
    assert MESSAGES["sv"]["token.expired"] != MESSAGES["en"]["token.expired"]
