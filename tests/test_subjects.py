"""Subjects: name and e-mail validation, hostile text stored inertly, personal links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.backend.people.queries import link_token, resolve_personal_link
from portal.backend.people.services import create_personal_link, revoke_personal_links
from portal.backend.people.subjects import get_subject, list_subjects
from portal.backend.platform import tokens
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import subjects
from portal.backend.platform.errors import TokenError, ValidationError
from portal.backend.platform.text import clean_email
from portal.backend.staff.audit import audit_count
from tests.factories import MANAGER, make_portal, make_subject

SECRET = "test-secret-" + "x" * 40
T0 = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "Name is empty"),
        ("   ", "Name is empty"),
        ("x" * 10_000, "Name is 10,000 characters long; at most 200"),
        ("<script>alert(1)</script>", "cannot contain < or >"),
        ("<b>Bold</b>", "cannot contain < or >"),
        ("Eve\u202eevil", "control or invisible"),
        ("Null\x00Byte", "control or invisible"),
    ],
)
def test_bad_names_are_refused_and_nothing_is_written(org_db: Database, name: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make_subject(org_db, name=name, choices={"internal": True})
    with org_db.read() as conn:
        assert conn.execute(select(func.count()).select_from(subjects)).scalar_one() == 0


@pytest.mark.parametrize("name", ["Robert'); DROP TABLE subjects;--", 'O\'Brien "Bob" & Co', "Zoë 🤳 Åström"])
def test_sql_and_unicode_in_names_are_stored_literally(org_db: Database, name: str) -> None:
    sid = make_subject(org_db, name=name, choices={"internal": True})
    with org_db.read() as conn:
        assert get_subject(conn, sid).display_name == name
        total, rows = list_subjects(conn, now=T0, search=name[:5])
    assert total == 1 and rows[0].name == name


def test_search_treats_wildcards_literally(org_db: Database) -> None:
    make_subject(org_db, name="Anna Lind")
    make_subject(org_db, name="Per 100% Sure")
    with org_db.read() as conn:
        assert list_subjects(conn, now=T0, search="%")[0] == 1
        assert list_subjects(conn, now=T0, search="_")[0] == 0


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "x@y.z<script>", "@example.org", "a" * 250 + "@ex.org"])
def test_bad_email(email: str) -> None:
    with pytest.raises(ValidationError, match="not an e-mail address"):
        clean_email(email)


def test_personal_link_round_trip_and_failures(org_db: Database, tmp_path: Path) -> None:
    portal = make_portal(
        org_db, tmp_path / "blobs", secret_key=SECRET, base_url="https://portal.example/", link_ttl_days=30
    )
    sid = make_subject(org_db, name="Link Person")
    url = create_personal_link(portal, actor=MANAGER, subject_id=sid, now=T0)
    assert url.startswith("https://portal.example/?link=v1.")
    token = link_token(url)
    assert resolve_personal_link(portal, token=token, now=T0 + timedelta(days=1)).id == sid

    _body, sig = token.split(".")[1:]
    forged_body = tokens.sign({"lid": "other", "exp": 2**40}, secret="wrong", kind="subject-link").split(".")[1]
    cases = {
        "tampered": f"v1.{forged_body}.{sig}",
        "truncated": token[:-5],
        "garbage": "hello",
        "other secret": tokens.sign({"lid": "x"}, secret="another-secret", kind="subject-link"),
        "event token": tokens.sign(tokens.peek(token), secret=SECRET, kind="event"),
    }
    for label, bad in cases.items():
        with pytest.raises(TokenError):
            resolve_personal_link(portal, token=bad, now=T0)
        assert label
    with pytest.raises(TokenError, match="expired"):
        resolve_personal_link(portal, token=token, now=T0 + timedelta(days=31))
    assert revoke_personal_links(portal, actor=MANAGER, subject_id=sid, now=T0) == 1
    with pytest.raises(TokenError, match="withdrawn"):
        resolve_personal_link(portal, token=token, now=T0 + timedelta(days=1))
    with org_db.read() as conn:
        # Staff creating and revoking a person's links are audited like every other staff action on their data.
        assert audit_count(conn, action="create_personal_link") == 1
        assert audit_count(conn, action="revoke_personal_links") == 1


def test_unknown_event_is_refused(org_db: Database) -> None:
    with pytest.raises(ValidationError, match="No event with id 42"):
        make_subject(org_db, event_id=42)


def test_names_keep_the_joiners_real_spellings_need_but_not_bidi_overrides() -> None:
    from portal.backend.platform.text import clean_name

    persian = "\u0641\u0627\u0637\u0645\u0647\u200c\u0632\u0647\u0631\u0627"  # ZWNJ inside a Persian name
    assert clean_name(persian) == persian
    assert clean_name("Ada \U0001f469\u200d\U0001f680") == "Ada \U0001f469\u200d\U0001f680"  # an emoji ZWJ sequence
    for hostile in ("Eve\u202egpj.exe", "Eve\u2066x\u2069", "Eve\u200bhidden", "Eve\x00"):
        with pytest.raises(ValidationError, match="invisible formatting"):
            clean_name(hostile)
