"""Getting your link back (issue 15 items 3 and 5): "Lost your link?", confirmed addresses, "E-mail it to me";
against a real SMTP server (aiosmtpd), on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from portal.backend.ops.mailer import send_pending
from portal.backend.people.services import (
    NEW_LINK_EMAIL_INTERVAL,
    address_hash,
    email_my_link,
    open_personal_link,
    register_subject,
    request_new_link,
    revoke_personal_links,
)
from portal.backend.people.subjects import link_token
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, outbox, subject_links, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import TokenError, ValidationError
from portal.backend.platform.runtime import Portal
from tests.conftest import APP
from tests.factories import OPERATOR, make_portal
from tests.smtp import Mailbox, smtp_server, text_part

__all__ = ["smtp_server"]  # the fixture, imported for pytest to find
LINK = re.compile(r"https?://\S+\?link=\S+")


def _portal(db: Database, tmp_path: Path, box: Mailbox) -> Portal:
    return make_portal(db, tmp_path / "blobs", **box.settings())


def _register(portal: Portal, email: str | None, *, channel: str = "qr_form") -> tuple[str, str]:
    """A person registered on the form (or by staff) with this address; (their id, the link shown on screen)."""
    actor = Actor(kind="subject") if channel == "qr_form" else OPERATOR
    result = register_subject(
        portal, actor=actor, channel=channel, name="Ada Lovelace", email=email, choices={"website": True}
    )
    assert result.link_url is not None
    return result.subject.id, result.link_url


def _links(box: Mailbox, address: str) -> list[str]:
    return [url for m in box.to(address) for url in LINK.findall(text_part(m))]


def _confirmed(portal: Portal, subject_id: str) -> bool:
    with portal.db.read() as conn:
        return (
            conn.execute(select(subjects.c.email_confirmed_at).where(subjects.c.id == subject_id)).scalar() is not None
        )


def _new_link_rows(portal: Portal) -> int:
    with portal.db.read() as conn:
        return int(
            conn.execute(select(func.count()).select_from(outbox).where(outbox.c.kind == "new_link")).scalar_one()
        )


def _confirm_by_welcome(portal: Portal, box: Mailbox, subject_id: str, address: str) -> str:
    """Deliver the welcome e-mail (and whatever else waits) and open its link, as the person does; the link."""
    assert send_pending(portal, now=utcnow()).sent >= 1
    [welcome] = _links(box, address)
    assert open_personal_link(portal, token=link_token(welcome)).id == subject_id
    return welcome


def test_opening_the_emailed_welcome_link_confirms_the_address_and_the_screen_link_does_not(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    person, on_screen = _register(portal, "ada@example.org")
    # Whoever typed the address holds the on-screen link too: opening it proves nothing about the address.
    assert open_personal_link(portal, token=link_token(on_screen)).id == person
    assert not _confirmed(portal, person)
    welcome = _confirm_by_welcome(portal, smtp_server, person, "ada@example.org")
    assert welcome != on_screen and _confirmed(portal, person)
    # Both links keep working: the e-mail did not retire the one on the screen.
    assert open_personal_link(portal, token=link_token(on_screen)).id == person


def test_lost_link_for_a_confirmed_address_delivers_a_new_link_and_retires_the_older_ones(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    person, on_screen = _register(portal, "ada@example.org")
    welcome = _confirm_by_welcome(portal, smtp_server, person, "ada@example.org")
    # Typed differently: addresses are compared without case.
    request_new_link(portal, email="  ADA@Example.org ", locale="en")
    with portal.db.read() as conn:
        [row] = conn.execute(select(outbox).where(outbox.c.kind == "new_link")).all()
    assert "link=" not in row.payload  # the link is made when the e-mail is sent, never kept in the outbox
    assert send_pending(portal, now=utcnow()).sent == 1
    [mail] = [m for m in smtp_server.to("ada@example.org") if "new personal link" in m["Subject"]]
    [fresh] = LINK.findall(text_part(mail))
    assert "Ada Lovelace" in text_part(mail)
    assert open_personal_link(portal, token=link_token(fresh)).id == person
    for old in (on_screen, welcome):
        with pytest.raises(TokenError, match="withdrawn"):
            open_personal_link(portal, token=link_token(old))
    with portal.db.read() as conn:
        audited = conn.execute(select(audit_log).where(audit_log.c.action == "request_new_link")).one()
        sent = conn.execute(select(outbox.c.status, outbox.c.payload).where(outbox.c.id == row.id)).one()
    # Audited by the address's keyed hash, never the address.
    assert audited.target_id == address_hash(portal, "ada@example.org") and "ada" not in audited.detail.lower()
    assert sent.status == "sent" and "link=" not in sent.payload


@pytest.mark.parametrize("case", ["unknown", "unconfirmed", "staff_entered", "erased"])
def test_lost_link_for_an_address_without_a_confirmed_person_sends_nothing(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path, case: str
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    if case == "unconfirmed":
        _register(portal, "ada@example.org")
    elif case == "staff_entered":
        _register(portal, "ada@example.org", channel="staff")
    elif case == "erased":
        from portal.backend.people.services import erase_subject

        person, _ = _register(portal, "ada@example.org")
        _confirm_by_welcome(portal, smtp_server, person, "ada@example.org")
        erase_subject(portal, actor=OPERATOR, subject_id=person)
    send_pending(portal, now=utcnow())  # the welcome (and erasure) e-mails, if any
    before = len(smtp_server.messages)
    request_new_link(portal, email="ada@example.org", locale="en")  # no answer either way
    assert _new_link_rows(portal) == 0
    send_pending(portal, now=utcnow())
    assert len(smtp_server.messages) == before
    with portal.db.read() as conn:
        [audited] = conn.execute(select(audit_log.c.detail).where(audit_log.c.action == "request_new_link")).all()
    assert "unknown" in audited.detail


def test_lost_link_requests_are_rate_limited_per_address(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    person, _ = _register(portal, "ada@example.org")
    _confirm_by_welcome(portal, smtp_server, person, "ada@example.org")
    now = utcnow()
    for minutes in (0, 1, 2, 3):
        request_new_link(portal, email="ada@example.org", locale="en", now=now + timedelta(minutes=minutes))
    # One e-mail per ten minutes; at most three requests an hour are even considered.
    assert _new_link_rows(portal) == 1
    with portal.db.read() as conn:
        audited = conn.execute(select(func.count()).where(audit_log.c.action == "request_new_link")).scalar_one()
    assert audited == 3
    # Past ten minutes but within the hour: the fourth request is still over the limit.
    request_new_link(
        portal, email="ada@example.org", locale="en", now=now + NEW_LINK_EMAIL_INTERVAL + timedelta(minutes=1)
    )
    assert _new_link_rows(portal) == 1
    # An hour later the address may ask again; another address was never limited by this one.
    request_new_link(portal, email="ada@example.org", locale="en", now=now + timedelta(hours=1, minutes=1))
    assert _new_link_rows(portal) == 2
    with pytest.raises(ValidationError):
        request_new_link(portal, email="not an address", locale="en")


def test_email_it_to_me_keeps_the_link_on_screen_working(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    person, on_screen = _register(portal, "ada@example.org")
    me = Actor.subject(person)
    assert email_my_link(portal, actor=me, subject_id=person) is True
    assert email_my_link(portal, actor=me, subject_id=person) is False  # again at once: not another e-mail
    assert send_pending(portal, now=utcnow()).sent == 2  # the welcome and the asked-for link
    [mail] = [m for m in smtp_server.to("ada@example.org") if "new personal link" in m["Subject"]]
    [fresh] = LINK.findall(text_part(mail))
    assert open_personal_link(portal, token=link_token(fresh)).id == person and _confirmed(portal, person)
    assert open_personal_link(portal, token=link_token(on_screen)).id == person
    nobody, _ = _register(portal, None)
    assert email_my_link(portal, actor=Actor.subject(nobody), subject_id=nobody) is False


def test_a_failed_new_link_email_leaves_the_older_links_working(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    portal = _portal(org_db, tmp_path, smtp_server)
    person, _ = _register(portal, "ada@example.org")
    welcome = _confirm_by_welcome(portal, smtp_server, person, "ada@example.org")
    request_new_link(portal, email="ada@example.org", locale="en")
    smtp_server.refuse = "451 try later"
    assert send_pending(portal, now=utcnow()).retrying == 1
    assert open_personal_link(portal, token=link_token(welcome)).id == person
    with portal.db.read() as conn:
        unsent = conn.execute(
            select(func.count()).where(subject_links.c.emailed_at.is_not(None), subject_links.c.revoked_at.is_(None))
        ).scalar_one()
    assert unsent == 1  # only the welcome link: the unsent new one was revoked


def _dead_end_page(link: str) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.query_params["link"] = link
    return at.run()


def test_dead_end_page_offers_a_new_link_and_answers_the_same_either_way(
    site: Database, smtp_server: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in smtp_server.env().items():
        monkeypatch.setenv(key, value)
    portal = make_portal(site, tmp_path / "blobs", **smtp_server.settings())
    person, on_screen = _register(portal, "ada@example.org")
    _confirm_by_welcome(portal, smtp_server, person, "ada@example.org")
    revoke_personal_links(portal, actor=OPERATOR, subject_id=person)
    answers = []
    for address in ("ada@example.org", "nobody@example.org"):
        at = _dead_end_page(link_token(on_screen))
        assert any("withdrawn" in e.value for e in at.error)
        at.text_input(key="lost_link_email").input(address)
        at.button[0].click()  # the form's submit button
        at.run()
        assert not at.exception
        answers.append([s.value for s in at.success])
    assert answers[0] == answers[1] and "If this address is registered" in answers[0][0]
    assert _new_link_rows(portal) == 1


def test_thank_you_hands_the_link_over_and_open_my_page_survives_a_reload(site: Database) -> None:
    from tests.test_consent_form import _born, _form, _token

    at = _form(_token(site))
    at.text_input(key="form_name").input("Olle Open")
    _born(at)
    at.button(key="form_submit").click().run()
    assert not at.exception
    link = at.code[0].value  # the copy-able link stays
    # No address given: "E-mail it to me" is there but cannot be used, and says why.
    assert at.button(key="form_email_me_button").disabled
    assert "You gave no e-mail address" in " ".join(c.value for c in at.caption)
    at.button(key="form_open_page").click().run()
    assert not at.exception
    # The tab's address now holds the personal link (not the form's), so a reload opens the same page.
    assert at.query_params.get("link") in ([link_token(link)], link_token(link)) and "event" not in at.query_params
    assert "Olle Open" in " ".join(m.value for m in at.markdown)
    reloaded = AppTest.from_file(str(APP), default_timeout=60)
    reloaded.query_params["link"] = link_token(link)
    reloaded.run()
    assert not reloaded.exception and "Olle Open" in " ".join(m.value for m in reloaded.markdown)
