"""E-mail delivery against a real SMTP server (aiosmtpd on 127.0.0.1), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from portal.backend.ops import messages
from portal.backend.ops.jobs import request_renewals
from portal.backend.ops.mailer import BACKOFF, MAX_ATTEMPTS, send_pending
from portal.backend.ops.outbox import queue
from portal.backend.ops.services import retry_failed_mail, send_outbox
from portal.backend.people.subjects import link_token
from portal.backend.platform.config import load_settings
from portal.backend.platform.db import migrate
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, outbox, subject_links
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ConfigError
from portal.backend.platform.organisation import get_organisation
from portal.backend.platform.runtime import Portal
from tests.conftest import APP, ROOT
from tests.factories import (
    OPERATOR,
    STAFF,
    create_personal_link,
    in_parallel,
    make_org,
    make_portal,
    register_subject,
    resolve_personal_link,
)
from tests.smtp import Mailbox, free_port, html_part, smtp_server, text_part

__all__ = ["smtp_server"]  # the fixture, imported for pytest to find
SECRET = load_settings(env={}, secrets_path=None).secret_key
LINK = re.compile(r"https?://\S+\?link=\S+")


def _cli(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m portal ...` as a real process, with only the PORTAL_* settings given."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    full |= {"PYTHONPATH": str(ROOT), "PORTAL_DATA_DIR": str(Path(tempfile.gettempdir()) / "portal-mail-tests")}
    full |= env or {}
    return subprocess.run(
        [sys.executable, "-m", "portal", *args, "--database-url", url],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _rows(db: Database) -> list:
    with db.read() as conn:
        return list(conn.execute(select(outbox).order_by(outbox.c.id)))


def _portal(db: Database, tmp_path: Path, box: Mailbox | None = None, **settings: object) -> Portal:
    return make_portal(db, tmp_path / "blobs", **(box.settings() if box else {}), **settings)


def _welcome(db: Database, name: str, email: str) -> str:
    """A registered person with a welcome e-mail queued as the registration services queue it; their id."""
    reg = register_subject(db, name=name, email=email, context=STAFF, choices={"website": True})
    link = create_personal_link(db, subject_id=reg.subject.id, secret=SECRET, base_url="http://x", ttl_days=30)
    with db.write() as conn:
        queue(
            conn,
            kind="email",
            now=utcnow(),
            recipient=email,
            subject_id=reg.subject.id,
            dedupe_key=f"welcome:{reg.subject.id}",
            payload={"subject": "Your photo consents", "body": f"Your personal link:\n{link}"},
        )
    return reg.subject.id


def test_subjects_add_then_outbox_send_delivers_one_working_link(db_url: str, smtp_server: Mailbox) -> None:
    db = Database(db_url)
    migrate.upgrade(db)
    make_org(db)
    added = _cli(
        db_url, "subjects", "add", "--name", "Nora Nilsson", "--email", "nora@example.org", "--consent", "website"
    )
    assert added.returncode == 0, added.stderr
    # Without SMTP settings nothing is sent and nothing is lost.
    idle = _cli(db_url, "outbox", "send")
    assert idle.returncode == 0 and "E-mail is not configured" in idle.stdout
    assert [r.status for r in _rows(db)] == ["pending"] and smtp_server.messages == []

    sent = _cli(db_url, "outbox", "send", env=smtp_server.env())
    assert sent.returncode == 0 and "Sent 1 e-mail(s)" in sent.stdout, sent.stderr
    [mail] = smtp_server.to("nora@example.org")
    assert len(smtp_server.messages) == 1 and mail["From"] == "Photo consent <consent@example.org>"
    org = _org(db)
    body = text_part(mail)
    assert "Nora Nilsson" in body and org.controller_name in body and org.contact_email in body
    [url] = LINK.findall(body)
    assert url in html_part(mail)
    assert resolve_personal_link(db, token=link_token(url), secret=SECRET).display_name == "Nora Nilsson"

    listed = _cli(db_url, "outbox", "list", "--json", env=smtp_server.env())
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)["messages"]
    assert (row["status"], row["recipient"], row["kind"], row["attempts"]) == ("sent", "nora@example.org", "email", 1)
    assert row["sent_at"] and "link=" not in listed.stdout
    [stored] = _rows(db)
    assert "link=" not in stored.payload and json.loads(stored.payload) == {"subject": mail["Subject"]}
    # A second run finds nothing to send.
    again = _cli(db_url, "outbox", "send", env=smtp_server.env())
    assert "Sent 0 e-mail(s)" in again.stdout and len(smtp_server.messages) == 1
    db.dispose()


def _org(db: Database):
    with db.read() as conn:
        return get_organisation(conn)


def test_renewal_request_arrives_with_a_fresh_link_that_is_never_stored(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    reg = register_subject(org_db, name='Rut "Rosa" & Renée', email="rut@example.org", locale="sv", context=STAFF,
                           choices={"website": True})  # fmt: skip
    now = utcnow()
    with org_db.write() as conn:
        assert request_renewals(conn, now=now, window_days=400) == 1  # the consent lapses within 400 days
    links_before = _count(org_db, subject_links)
    report = send_outbox(_portal(org_db, tmp_path, smtp_server), actor=OPERATOR, now=now)
    assert (report.sent, report.attempted) == (1, 1)
    [mail] = smtp_server.to("rut@example.org")
    body, markup = text_part(mail), html_part(mail)
    assert 'Hej Rut "Rosa" & Renée' in body and "förnya" in body  # Swedish, the person's language
    assert "Rut &quot;Rosa&quot; &amp; Renée" in markup and "& Renée" not in markup  # every value escaped in HTML
    [url] = LINK.findall(body)
    assert resolve_personal_link(org_db, token=link_token(url), secret=SECRET).id == reg.subject.id
    assert _count(org_db, subject_links) == links_before + 1  # made at send time, older links kept
    [row] = _rows(org_db)
    assert row.status == "sent" and "link=" not in row.payload and "rut" not in row.payload.lower()
    with org_db.read() as conn:
        assert conn.execute(select(audit_log.c.detail).where(audit_log.c.action == "send_outbox")).scalar_one()


def _count(db: Database, table) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_unreachable_server_is_retried_with_backoff_then_failed_with_the_reason(
    org_db: Database, tmp_path: Path
) -> None:
    _welcome(org_db, "Fay Fail", "fay@example.org")
    portal = _portal(org_db, tmp_path, smtp_host="127.0.0.1", smtp_port=free_port(), smtp_from="p@example.org",
                     smtp_security="none", smtp_user="mailer", smtp_password="hunter2-secret")  # fmt: skip
    payload = _rows(org_db)[0].payload
    now = utcnow()
    for attempt in range(1, MAX_ATTEMPTS + 1):
        report = send_pending(portal, now=now)
        assert report.attempted == 1
        [row] = _rows(org_db)
        assert row.attempts == attempt and "connection refused" in (row.last_error or "")
        assert "hunter2" not in (row.last_error or "") and row.payload == payload  # nothing lost
        if attempt < MAX_ATTEMPTS:
            assert row.status == "pending" and row.next_attempt_at == now + BACKOFF[attempt - 1]
            assert send_pending(portal, now=now).attempted == 0  # not due before its next try
            now = row.next_attempt_at
    assert row.status == "failed" and report.failed == 1
    assert send_pending(portal, now=now + timedelta(days=1)).attempted == 0


def test_a_refusing_server_fails_then_a_retry_delivers(org_db: Database, smtp_server: Mailbox, tmp_path: Path) -> None:
    _welcome(org_db, "Rex Refused", "rex@example.org")
    portal = _portal(org_db, tmp_path, smtp_server)
    smtp_server.refuse = "554 5.7.1 Message rejected by policy"
    now = utcnow()
    for _ in range(MAX_ATTEMPTS):
        send_pending(portal, now=now)
        now += timedelta(hours=3)
    [row] = _rows(org_db)
    assert row.status == "failed" and row.last_error is not None and "554" in row.last_error
    assert "rejected by policy" in row.last_error and smtp_server.messages == []
    smtp_server.refuse = None
    assert retry_failed_mail(portal, actor=OPERATOR) == 1
    assert send_pending(portal, now=now).sent == 1 and len(smtp_server.to("rex@example.org")) == 1


def test_two_senders_at_once_deliver_each_message_once(db_url: str, smtp_server: Mailbox, tmp_path: Path) -> None:
    db = Database(db_url)
    migrate.upgrade(db)
    make_org(db)
    for n in range(8):
        _welcome(db, f"Person {n}", f"p{n}@example.org")
    settings = load_settings(env={}, secrets_path=None, database_url=db_url, **smtp_server.settings())
    now = utcnow()

    def send(own: Database) -> None:
        send_pending(Portal(settings=settings, db=own, blobs=make_portal(own, tmp_path).blobs), now=now)

    assert in_parallel(db_url, send, threads=3) == []
    assert sorted(m["To"] for m in smtp_server.messages) == sorted(f"p{n}@example.org" for n in range(8))
    assert {r.status for r in _rows(db)} == {"sent"} and {r.attempts for r in _rows(db)} == {1}
    db.dispose()


def test_a_crashed_senders_claim_is_taken_again_after_its_lease(
    org_db: Database, smtp_server: Mailbox, tmp_path: Path
) -> None:
    from portal.backend.ops.outbox import claim

    _welcome(org_db, "Lea Lease", "lea@example.org")
    now = utcnow()
    with org_db.write() as conn:
        assert len(claim(conn, now=now, lease=timedelta(minutes=5), limit=5)) == 1  # and the sender dies
    portal = _portal(org_db, tmp_path, smtp_server)
    assert send_pending(portal, now=now + timedelta(minutes=1)).attempted == 0  # still claimed
    assert send_pending(portal, now=now + timedelta(minutes=6)).sent == 1
    assert len(smtp_server.messages) == 1 and _rows(org_db)[0].attempts == 2


@pytest.mark.parametrize("locale", ["en", "sv"])
def test_the_digest_reads_well_in_both_languages(org_db: Database, locale: str) -> None:
    org = _org(org_db)
    head = {"seq": 42, "entryHash": "ab" * 32, "keyId": "k1", "signedAt": "2026-06-01T00:00:00Z"}
    payload = {
        "risk": [{"purpose": "web<site>", "at_risk": 3, "critical": 1, "expiring": 2}],
        "takedowns": {"open": 2, "oldestDays": 4},
        "ledgerHead": head,
    }
    mail = messages.digest(org=org, locale=locale, payload=payload, day="2026-06-01", failed=1)
    words = {"en": ("digest", "takedown", "Signed ledger head"), "sv": ("Sammanfattning", "nedtagning", "Signerat")}
    assert words[locale][0] in mail.subject and all(w in mail.text for w in words[locale][1:])
    assert "web<site>" in mail.text and "web&lt;site&gt;" in mail.html and "<site>" not in mail.html
    assert "42" in mail.text and json.dumps(head, sort_keys=True) in mail.text  # the anchor, whole
    assert set(messages.MAIL["en"]) == set(messages.MAIL["sv"])


def test_digest_is_delivered_to_managers(org_db: Database, smtp_server: Mailbox, tmp_path: Path) -> None:
    from portal.backend.ops.jobs import manager_digests
    from tests.factories import make_staff

    make_staff(org_db, role="manager", email="boss@example.org")
    with org_db.write() as conn:
        assert manager_digests(conn, now=utcnow(), window_days=30) == 1
    assert send_pending(_portal(org_db, tmp_path, smtp_server), now=utcnow()).sent == 1
    [mail] = smtp_server.to("boss@example.org")
    assert "Open takedown tasks: 0" in text_part(mail)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORTAL_SMTP_HOST": "mail.example.org"}, "PORTAL_SMTP_FROM is missing"),
        ({"PORTAL_SMTP_HOST": "mail.example.org", "PORTAL_SMTP_FROM": "not an address"}, "is not an e-mail address"),
        ({"PORTAL_SMTP_HOST": "m.example.org", "PORTAL_SMTP_FROM": "a@b.org", "PORTAL_SMTP_PORT": "70000"}, "between"),
        ({"PORTAL_SMTP_HOST": "m.example.org", "PORTAL_SMTP_FROM": "a@b.org", "PORTAL_SMTP_SECURITY": "ssl"}, "one of"),
        ({"PORTAL_SMTP_HOST": "m.example.org", "PORTAL_SMTP_FROM": "a@b.org", "PORTAL_SMTP_USER": "u"}, "go together"),
        ({"PORTAL_SMTP_PASSWORD": "x"}, "PORTAL_SMTP_HOST is empty"),
        ({"PORTAL_SMTP_HOST": "bad host!", "PORTAL_SMTP_FROM": "a@b.org"}, "not a host name"),
    ],
)
def test_smtp_settings_are_checked_at_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env, secrets_path=None)


def test_production_refuses_clear_text_smtp_off_this_machine() -> None:
    prod = {
        "PORTAL_ENVIRONMENT": "production",
        "PORTAL_SECRET_KEY": "aB3$dE5^gH7*jK9(mN1)pQ2!rS4@tU6#vW8%xY0",
        "PORTAL_BASE_URL": "https://consent.example.org",
        "PORTAL_DEMO_DATA": "false",
        "PORTAL_SMTP_FROM": "consent@example.org",
        "PORTAL_SMTP_SECURITY": "none",
    }
    with pytest.raises(ConfigError, match="must not cross the network in clear"):
        load_settings(env=prod | {"PORTAL_SMTP_HOST": "smtp.example.org"}, secrets_path=None)
    local = load_settings(env=prod | {"PORTAL_SMTP_HOST": "localhost"}, secrets_path=None)
    assert local.smtp_configured and local.smtp_port_or_default == 25
    secure = load_settings(env=prod | {"PORTAL_SMTP_HOST": "smtp.example.org", "PORTAL_SMTP_SECURITY": "tls"},
                           secrets_path=None)  # fmt: skip
    assert secure.smtp_port_or_default == 465 and "smtp_password" not in repr(secure).replace("smtp_password=", "")


def test_the_outbox_page_shows_the_queue_to_a_manager_without_bodies(
    seeded_portal, monkeypatch: pytest.MonkeyPatch, smtp_server: Mailbox
) -> None:
    db = seeded_portal.db
    _welcome(db, "Paula Page", "paula@example.org")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[0].input("manager@demo.example")
    at.text_input[1].input("demo-manager-pass")
    at.button[0].click().run()
    at.switch_page("portal/pages/outbox.py")
    at.run()
    assert not at.exception
    assert any("E-mail is not configured" in w.value for w in at.warning)
    shown = at.dataframe[0].value
    assert "paula@example.org" in set(shown["recipient"])
    assert not any("link=" in str(v) for v in shown.to_numpy().ravel())
    for key, value in smtp_server.env().items():  # with settings, no warning
        monkeypatch.setenv(key, value)
    at.run()
    assert not at.exception and not any("E-mail is not configured" in w.value for w in at.warning)
    assert any("outbox send" in c.value for c in at.caption)
