"""The expiry notice, the erasure confirmation and the takedown notice to staff: each queued in the transaction of the
change that causes it, delivered by a real SMTP server (aiosmtpd), readable in English and Swedish; on both
databases."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from portal.backend.consent import ledger
from portal.backend.consent.records import Decision
from portal.backend.consent.services import change_consent, publish_purpose_text
from portal.backend.ops import messages
from portal.backend.ops.jobs import expire_lapsed, request_renewals
from portal.backend.ops.mailer import send_pending
from portal.backend.people.services import erase_subject
from portal.backend.people.subjects import link_token
from portal.backend.photos import services
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import outbox, staff_users, takedowns
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.organisation import get_organisation
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from tests.conftest import APP
from tests.factories import STAFF, make_portal, make_staff, register_subject, resolve_personal_link
from tests.seeded import SeededPortal
from tests.smtp import Mailbox, html_part, smtp_server, text_part
from tests.test_superseded import NEW_WEBSITE
from tests.test_takedowns import T0, photo

__all__ = ["smtp_server"]  # the fixture, imported for pytest to find
SECRET = load_settings(env={}, secrets_path=None).secret_key
LINK = re.compile(r"https?://\S+\?link=\S+")


def _portal(db: Database, tmp_path: Path, box: Mailbox | None = None) -> Portal:
    return make_portal(db, tmp_path / "blobs", **(box.settings() if box else {}))


def _rows(db: Database, kind: str) -> list:
    with db.read() as conn:
        return list(conn.execute(select(outbox).where(outbox.c.kind == kind).order_by(outbox.c.id)))


@pytest.mark.parametrize(("locale", "words"), [("en", "ran out on"), ("sv", "upphörde")])
def test_expiry_notice_is_queued_with_the_expiry_and_its_link_gives_consent_again(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path, locale: str, words: str
) -> None:
    reg = register_subject(org_db, name="Elsa Ek", email="elsa@example.org", locale=locale, context=STAFF,
                           choices={"website": True}, now=T0)  # fmt: skip
    later = T0 + timedelta(days=400)  # the organisation's 365 days have passed
    with org_db.write() as conn:
        assert expire_lapsed(conn, now=later) == 1
        # In the same transaction as the 'expired' entry: one notice, no link stored.
        [row] = conn.execute(select(outbox).where(outbox.c.kind == "expiry")).all()
        assert (row.recipient, row.subject_id, row.status) == ("elsa@example.org", reg.subject.id, "pending")
        assert "link=" not in row.payload and json.loads(row.payload)["purpose"] == "website"
    with org_db.write() as conn:
        assert expire_lapsed(conn, now=later + timedelta(days=1)) == 0
        assert risk_index.check(conn) == []
    assert len(_rows(org_db, "expiry")) == 1  # a second run adds nothing

    assert send_pending(_portal(org_db, tmp_path, smtp_server), now=later).sent == 1
    [mail] = smtp_server.to("elsa@example.org")
    body = text_part(mail)
    assert "Elsa Ek" in body and words in body and (T0 + timedelta(days=365)).date().isoformat() in body
    with org_db.read() as conn:
        org = get_organisation(conn)
    assert org.contact_email in body and org.controller_name in html_part(mail)
    [url] = LINK.findall(body)
    assert resolve_personal_link(org_db, token=link_token(url), secret=SECRET).id == reg.subject.id
    [sent] = _rows(org_db, "expiry")
    assert sent.status == "sent" and "link=" not in sent.payload
    # The link lets the person give the consent again: a 'given' entry under the current text follows the expiry.
    change_consent(
        _portal(org_db, tmp_path), actor=Actor.subject(reg.subject.id), subject_id=reg.subject.id,
        decisions=[Decision("website", "given")], channel="portal", now=later,
    )  # fmt: skip
    with org_db.read() as conn:
        actions = [e.action for e in ledger.entries_for_subject(conn, reg.subject.id)]
        assert risk_index.check(conn) == []
    assert actions[-2:] == ["expired", "given"]


def test_an_asset_scoped_or_addressless_expiry_sends_nothing(org_db: Database) -> None:
    register_subject(org_db, name="No Mail", context=STAFF, choices={"website": True}, now=T0)
    with org_db.write() as conn:
        assert expire_lapsed(conn, now=T0 + timedelta(days=400)) == 1
    assert _rows(org_db, "expiry") == []


@pytest.mark.parametrize(("locale", "words"), [("en", "we have erased"), ("sv", "har vi raderat")])
def test_erasure_confirmation_is_sent_then_nothing_of_the_person_is_left(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path, locale: str, words: str
) -> None:
    reg = register_subject(org_db, name="Greta Grön", email="greta@example.org", locale=locale, context=STAFF,
                           choices={"website": True})  # fmt: skip
    sid = reg.subject.id
    portal = _portal(org_db, tmp_path, smtp_server)
    erase_subject(portal, actor=Actor.subject(sid), subject_id=sid)
    [row] = _rows(org_db, "erasure_confirmation")
    # Queued by the erasure, after the person's messages were blanked: the address only.
    assert (row.recipient, row.subject_id, row.status, json.loads(row.payload)) == (
        "greta@example.org",
        None,
        "pending",
        {"locale": locale},
    )

    assert send_pending(portal, now=utcnow()).sent == 1
    [mail] = smtp_server.to("greta@example.org")
    body = text_part(mail)
    assert words in body and "Greta Grön" not in body and "link=" not in body and "link=" not in html_part(mail)
    # Once sent, the database holds neither the address nor the name anywhere in the outbox.
    with org_db.read() as conn:
        everything = " ".join(str(tuple(r)) for r in conn.execute(select(outbox)))
        assert risk_index.check(conn) == []
    assert "greta" not in everything.lower()
    [sent] = _rows(org_db, "erasure_confirmation")
    assert (sent.status, sent.recipient) == ("sent", None)


def test_no_erasure_confirmation_is_queued_without_email_settings(org_db: Database, tmp_path: Path) -> None:
    reg = register_subject(org_db, name="Ida Is", email="ida@example.org", context=STAFF, choices={"website": True})
    erase_subject(_portal(org_db, tmp_path), actor=Actor.subject(reg.subject.id), subject_id=reg.subject.id)
    # It could never be sent, and would keep the address at rest.
    assert _rows(org_db, "erasure_confirmation") == []


def test_a_takedown_task_emails_active_managers_and_admins_once(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    staff = make_staff(org_db, role="staff", email="photographer@example.org")
    make_staff(org_db, role="manager", email="boss@example.org")
    make_staff(org_db, role="admin", email="admin@example.org")
    make_staff(org_db, role="manager", email="gone@example.org")
    with org_db.write() as conn:
        conn.execute(staff_users.update().where(staff_users.c.email == "gone@example.org").values(active=False))
    anna = register_subject(org_db, name="Anna Andersson", context=STAFF, choices={"website": True, "internal": True},
                            now=T0 - timedelta(days=1)).subject.id  # fmt: skip
    asset_id, faces = photo(portal, 1)
    services.link_face(portal, actor=staff, detection_id=faces[0], subject_id=anna, now=T0)
    services.publish_photo(portal, actor=staff, asset_id=asset_id, purpose="website", where="https://x.org/t", now=T0)
    assert _rows(org_db, "takedown_notice") == []

    later = T0 + timedelta(hours=1)
    decisions = [Decision("website", "withdrawn")]
    change_consent(portal, actor=Actor.subject(anna), subject_id=anna, decisions=decisions, channel="portal", now=later)
    with org_db.read() as conn:
        [task] = conn.execute(select(takedowns)).all()
    notices = _rows(org_db, "takedown_notice")
    assert sorted(n.recipient for n in notices) == ["admin@example.org", "boss@example.org"]
    assert {(n.created_at, json.loads(n.payload)["task"], n.asset_id) for n in notices} == {(later, task.id, asset_id)}
    # Another change on the same photo opens no task, so no second notice.
    internal = [Decision("internal", "withdrawn")]
    change_consent(portal, actor=Actor.subject(anna), subject_id=anna, decisions=internal, channel="portal", now=later)
    assert len(_rows(org_db, "takedown_notice")) == 2

    assert send_pending(portal, now=later).sent == 2
    [mail] = smtp_server.to("boss@example.org")
    body = text_part(mail)
    assert "photo-1.jpg" in body and "https://x.org/t" in body and "withdrew" in body
    assert f"{portal.settings.base_url.rstrip('/')}/takedowns" in body and "Anna" not in body
    assert "https://x.org/t" in mail["Subject"]
    assert smtp_server.to("photographer@example.org") == [] and smtp_server.to("gone@example.org") == []


def test_a_notice_for_a_task_closed_before_sending_is_cancelled(org_db: Database, smtp_server: Mailbox,
                                                                tmp_path: Path) -> None:  # fmt: skip
    portal = _portal(org_db, tmp_path, smtp_server)
    staff = make_staff(org_db, role="manager", email="boss@example.org")
    anna = register_subject(org_db, name="Anna", context=STAFF, choices={"website": True},
                            now=T0 - timedelta(days=1)).subject.id  # fmt: skip
    asset_id, faces = photo(portal, 1)
    services.link_face(portal, actor=staff, detection_id=faces[0], subject_id=anna, now=T0)
    use = services.publish_photo(portal, actor=staff, asset_id=asset_id, purpose="website", where="Web", now=T0)
    change_consent(portal, actor=Actor.subject(anna), subject_id=anna, decisions=[Decision("website", "withdrawn")],
                   channel="portal", now=T0)  # fmt: skip
    services.unpublish_photo(portal, actor=staff, use_id=use, now=T0)
    report = send_pending(portal, now=T0)
    assert (report.sent, report.cancelled) == (0, 1) and smtp_server.messages == []


@pytest.mark.parametrize("locale", ["en", "sv"])
def test_the_new_kinds_read_well_in_both_languages(org_db: Database, locale: str) -> None:
    with org_db.read() as conn:
        org = get_organisation(conn)
    made = [
        messages.expiry(
            org=org,
            locale=locale,
            name="Å <b>",
            purpose="Web & co",
            valid_until="2027-01-02T00:00:00",
            link="https://p.org/me?link=abc",
        ),
        messages.erasure_confirmation(org=org, locale=locale),
        messages.takedown_notice(
            org=org,
            locale=locale,
            asset_id=7,
            filename="a<b>.jpg",
            place="Web & co",
            purpose="Web",
            cause="erasure",
            partner=True,
            link="https://p.org/takedowns",
        ),
    ]
    english = ("ran out", "erased", "taken down")
    for message, word in zip(made, english, strict=True):
        assert org.controller_name in message.text and "{" not in message.text  # every placeholder filled
        assert "<b>" not in message.html  # user-typed values escaped in HTML
        assert (word in message.text) == (locale == "en")
    assert "&lt;b&gt;" in made[0].html and "&lt;b&gt;" in made[2].html
    assert "https://p.org/me?link=abc" in made[0].text and "https://p.org/takedowns" in made[2].html
    assert set(messages.MAIL["sv"]) >= set(messages.MAIL["en"])  # every text exists in Swedish


def test_a_delivered_renewal_requests_link_records_renewed_under_the_current_text(
    seeded_portal: SeededPortal, smtp_server: Mailbox
) -> None:
    db = seeded_portal.db
    portal = make_portal(db, seeded_portal.data_dir / "blobs", **smtp_server.settings())
    sid = register_subject(db, name="Rita Renew", email="rita@example.org", context=STAFF,
                           choices={"website": True}).subject.id  # fmt: skip
    admin = make_staff(db, role="admin")
    version = publish_purpose_text(
        portal, actor=admin, code="website", texts={"en": NEW_WEBSITE}, carry_over=["sv"]
    ).version
    with db.write() as conn:
        assert request_renewals(conn, now=utcnow(), window_days=0) >= 1
    assert send_pending(portal, now=utcnow()).failed == 0
    [mail] = smtp_server.to("rita@example.org")
    [url] = LINK.findall(text_part(mail))

    # The person opens the link from the e-mail and renews with one tap.
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["link"] = link_token(url)
    at.run()
    at.segmented_control(key="locale").set_value("en").run()
    at.button(key="renew_website_all").click().run()
    assert not at.exception
    with db.read() as conn:
        last = ledger.entries_for_subject(conn, sid)[-1]
        assert risk_index.check(conn) == []
    assert (last.action, last.text_version, last.channel, last.actor) == ("renewed", version, "portal", "subject")
