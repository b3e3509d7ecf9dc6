"""The QR consent form through AppTest on a real database: every state, nothing pre-ticked, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from portal.backend.consent.services import issue_receipt
from portal.backend.consent.status import status_for, subject_consents
from portal.backend.events.store import event_url, rotate_qr_secret
from portal.backend.i18n import t
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import consent_ledger, outbox, subject_templates, subjects
from portal.backend.platform.db.schema import receipts as receipts_table
from portal.backend.platform.db.types import utcnow
from tests.conftest import APP
from tests.factories import make_portal
from tests.imagery import group_photo, sample_bytes


def _token(db: Database, event_id: int = 2) -> str:
    s = load_settings(env={}, secrets_path=None)
    with db.read() as conn:
        return event_url(conn, event_id=event_id, secret=s.secret_key, base_url=s.base_url).split("event=", 1)[1]


def _form(token: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["event"] = token
    return at.run()


def _born(at: AppTest, *, year: int = 1990, month: int = 6) -> AppTest:
    """Fill in the month and year of birth the form asks everyone for (an adult unless told otherwise)."""
    at.selectbox(key="form_birth_month").set_value(month)
    at.selectbox(key="form_birth_year").set_value(year)
    return at


def _count(db: Database, table) -> int:  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_form_shows_every_purpose_of_the_event_unticked(site: Database) -> None:
    at = _form(_token(site))
    assert not at.exception
    assert at.title[0].value == "Photos at Summer festival"
    agree = [c for c in at.checkbox if c.key and c.key.startswith("agree_")]
    assert [c.key for c in agree] == [
        "agree_internal",
        "agree_website",
        "agree_social_media",
        "agree_print",
        "agree_partners",
        "agree_face_matching",
    ]
    assert not any(c.value for c in agree)  # R2
    # Recipients named (R4), in the purpose's own text.
    partners = next(m.value for m in at.markdown if m.value.startswith("**Sharing with partners**"))
    assert "Who receives the photos:* Nordic Event Partners AB" in partners
    assert at.segmented_control[0].value == "en"
    at.segmented_control[0].set_value("sv").run()
    assert at.title[0].value == "Bilder från Summer festival"


@pytest.mark.parametrize("token", ["", "garbage", "v1.eyJlaWQiOjJ9.AAAA"])
def test_bad_tokens_show_an_error_and_no_form(site: Database, token: str) -> None:
    at = _form(token)
    assert not at.exception
    assert at.error and not at.checkbox and not at.button


def test_rotated_qr_secret_stops_old_posters(site: Database) -> None:
    old = _token(site)
    with site.write() as conn:
        rotate_qr_secret(conn, event_id=2)
    at = _form(old)
    assert "no longer valid" in at.error[0].value
    assert _form(_token(site)).title[0].value == "Photos at Summer festival"


def test_refusing_everything_still_registers_and_gives_a_link(site: Database) -> None:
    at = _form(_token(site))
    at.text_input(key="form_name").input("Nils Nobody")
    _born(at)
    at.button(key="form_submit").click().run()
    assert not at.exception
    assert "Thank you, Nils Nobody" in at.success[0].value
    assert "did not agree to any use" in " ".join(m.value for m in at.markdown)
    link = at.code[0].value
    assert "/?link=v1." in link
    with site.read() as conn:
        sid = conn.execute(select(subjects.c.id).where(subjects.c.display_name == "Nils Nobody")).scalar_one()
        statuses = subject_consents(conn, sid, utcnow())
        channels = set(
            conn.execute(select(consent_ledger.c.channel).where(consent_ledger.c.subject_id == sid)).scalars()
        )
    assert not any(s.allowed for s in statuses)
    assert status_for(statuses, "website") == "refused" and channels == {"qr_form"}


def test_given_purposes_email_outbox_and_double_submit(site: Database) -> None:
    at = _form(_token(site))
    at.text_input(key="form_name").input("Wendy Web")
    _born(at)
    at.text_input(key="form_email").input("wendy@example.org")
    at.checkbox(key="agree_website").check()
    at.checkbox(key="agree_print").check()
    at.run()
    submission = at.session_state["submission_id"]
    at.button(key="form_submit").click().run()
    assert "You agreed to: Our website, Printed material." in " ".join(m.value for m in at.markdown)
    # No SMTP settings here: the form promises no e-mail and says to keep the link it shows.
    assert "no e-mail with this link will come: keep it now" in " ".join(c.value for c in at.caption)
    entries, people = _count(site, consent_ledger), _count(site, subjects)
    # The same submission arriving again (a double tap on a slow phone) records nothing new.
    from portal.backend.people.services import register_subject
    from portal.backend.platform.actors import Actor
    from tests.factories import make_portal

    receipts = _count(site, receipts_table)
    again = register_subject(
        make_portal(site, Path("data/blobs")),
        actor=Actor(kind="subject"),
        channel="qr_form",
        name="Wendy Web",
        choices={"website": True, "print": True},
        submission_id=submission,
    )
    assert (_count(site, consent_ledger), _count(site, subjects)) == (entries, people)
    assert _count(site, receipts_table) == receipts == 1
    assert again.replayed and again.subject.display_name == "Wendy Web" and again.receipt_id is not None
    with site.read() as conn:
        # (The demo's open takedown task has its notices to staff in the outbox too.)
        mail = conn.execute(
            select(outbox.c.kind, outbox.c.recipient, outbox.c.payload).where(outbox.c.kind != "takedown_notice")
        ).one()
    assert mail.kind == "email" and mail.recipient == "wendy@example.org" and "?link=v1." in mail.payload


def test_minor_needs_a_guardian(site: Database) -> None:
    at = _form(_token(site))
    at.text_input(key="form_name").input("Kim Kid")
    _born(at, year=utcnow().year - 9).run()
    at.checkbox(key="agree_internal").check()
    at.button(key="form_submit").click().run()
    assert "parent or guardian must give their name" in at.error[0].value
    assert _count(site, subjects) == 7
    at.text_input(key="form_guardian").input("Pat Parent")
    at.checkbox(key="form_guardian_ok").check()
    at.button(key="form_submit").click().run()
    assert not at.exception and at.success
    with site.read() as conn:
        kid = conn.execute(select(subjects).where(subjects.c.display_name == "Kim Kid")).one()
        actor = conn.execute(select(consent_ledger.c.actor).where(consent_ledger.c.subject_id == kid.id)).scalars()
    assert kid.is_minor and kid.guardian_name == "Pat Parent" and set(actor) == {"guardian"}


def test_errors_show_at_their_field_in_the_visitors_language_and_keep_what_was_typed(site: Database) -> None:
    """A pasted name that is too long stays in the field with a Swedish message under it; a child's form speaks about
    the child; the guardian's missing answer is said under the guardian's fields; nothing is registered."""
    at = _form(_token(site))
    at.segmented_control(key="form_locale").set_value("sv").run()
    long_name = "Maja " + "Långnamn" * 40
    at.text_input(key="form_name").input(long_name).run()
    assert at.text_input(key="form_name").value == long_name  # not emptied, as a browser's max length would
    assert at.error[0].value.startswith(f"Namnet är {len(long_name)} tecken långt; högst 200")
    at.text_input(key="form_email").input("not-an-address").run()
    assert "ingen e-postadress" in at.error[1].value
    _born(at, year=utcnow().year - 9).run()
    assert at.text_input(key="form_name").label == "Barnets namn"
    assert at.subheader[0].value == "Vad får vi använda bilder på barnet till?"
    at.checkbox(key="agree_internal").check()
    at.button(key="form_submit").click().run()
    messages = [e.value for e in at.error]
    assert messages[-1] == t("form.fix_above", "sv")
    assert t("form.need_guardian", "sv") in messages
    # The guardian's message sits under the guardian's fields: after the confirmation box, before the purposes.
    flat = [getattr(e, "value", None) for e in at.main]
    assert flat.index(t("form.need_guardian", "sv")) < flat.index("Vad får vi använda bilder på barnet till?")
    assert not any("characters" in m or "e-mail address" in m for m in messages)  # no English from the services
    assert _count(site, subjects) == 7


def test_face_matching_needs_a_usable_selfie_then_keeps_only_the_template(site: Database) -> None:
    at = _form(_token(site))
    at.text_input(key="form_name").input("Grace Hopper")
    _born(at)
    at.checkbox(key="agree_face_matching").check().run()
    # Ticking face matching starts no camera: the person first chooses between the camera and an upload.
    assert not at.get("camera_input") and not [u for u in at.get("file_uploader") if u.key == "selfie_upload"]
    at.radio(key="selfie_how").set_value("camera").run()
    assert at.get("camera_input") and not [u for u in at.get("file_uploader") if u.key == "selfie_upload"]
    at.radio(key="selfie_how").set_value("upload").run()
    assert not at.get("camera_input") and at.file_uploader(key="selfie_upload")
    at.button(key="form_submit").click().run()
    assert "take or upload a selfie" in at.error[0].value
    at.file_uploader(key="selfie_upload").set_value(("two.jpg", group_photo(["grace_hopper", "zidane"]), "image/jpeg"))
    at.button(key="form_submit").click().run()
    assert "more than one face" in at.error[0].value  # said at the selfie, not in the service's English
    assert _count(site, subjects) == 7  # nothing half-registered
    at.file_uploader(key="selfie_upload").set_value(("me.jpg", sample_bytes("grace_hopper"), "image/jpeg"))
    at.button(key="form_submit").click().run()
    assert not at.exception and at.success
    assert _count(site, subject_templates) == 1
    data_dir = Path("data")
    assert not any("me.jpg" in p.name for p in data_dir.rglob("*"))  # the selfie itself is not stored


def test_submission_gives_downloadable_receipts(site: Database) -> None:
    import json

    from portal.backend.consent.receipts import validate_receipt

    at = _form(_token(site))
    at.text_input(key="form_name").input("Rita Receipt")
    _born(at)
    at.checkbox(key="agree_website").check()
    at.button(key="form_submit").click().run()
    assert not at.exception and not at.warning[1:]  # only the demo banner warns
    buttons = {b.label: b for b in at.get("download_button")}
    assert {"Receipt (PDF)", "Receipt (machine-readable JSON)"} <= set(buttons)
    # Nothing was rendered on the request path: the buttons make the files on the first click, as here.
    assert not list(Path("data/blobs/receipts").rglob("*"))
    with site.read() as conn:
        receipt_id = conn.execute(select(receipts_table.c.id)).scalar_one()
    issue_receipt(make_portal(site, Path("data/blobs")), receipt_id=receipt_id)
    receipts = sorted(Path("data/blobs/receipts").rglob("*.json"))
    assert len(receipts) == 1
    data = json.loads(receipts[0].read_text())
    assert validate_receipt(data) == [] and data["collectionMethod"]
    assert receipts[0].with_suffix(".pdf").read_bytes().startswith(b"%PDF")
