"""Publishing a purpose text version: a real change, all languages together, a preview of the impact, audited."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from portal.backend.consent.queries import preview_purpose_text, purpose_summaries
from portal.backend.consent.records import Context
from portal.backend.consent.services import TextContent, publish_purpose_text
from portal.backend.i18n.purposes import STANDARD_PURPOSES
from portal.backend.photos.analysis import run_worker
from portal.backend.photos.assets import asset_detections, ingest
from portal.backend.photos.services import link_face
from portal.backend.platform.actors import Actor
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, purpose_texts, purposes
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, ConsentStateError, ValidationError
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from portal.cli import main as cli_main
from tests.conftest import APP
from tests.factories import make_portal, make_staff, make_subject
from tests.imagery import group_photo
from tests.seeded import SeededPortal

STAFF = Context(channel="staff", actor="staff:test", evidence={"act": "staff_entry"})
OLD = {p.code: p.texts for p in STANDARD_PURPOSES}
PRINT_EN = TextContent(
    OLD["print"]["en"].title,
    OLD["print"]["en"].body + " Printed matter is also sold at our shop.",
    OLD["print"]["en"].recipients,
    OLD["print"]["en"].data_categories,
)


@pytest.fixture
def portal(org_db: Database, tmp_path: Path) -> Portal:
    return make_portal(org_db, tmp_path / "blobs")


@pytest.fixture
def admin(org_db: Database) -> Actor:
    return make_staff(org_db, role="admin", email="admin@example.org")


def _versions(db: Database, code: str) -> list[tuple[int, str]]:
    with db.read() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(purpose_texts.c.version, purpose_texts.c.locale)
                .join(purposes, purposes.c.id == purpose_texts.c.purpose_id)
                .where(purposes.c.code == code)
                .order_by(purpose_texts.c.version, purpose_texts.c.locale)
            )
        ]


def _audits(db: Database) -> list[dict]:
    with db.read() as conn:
        rows = conn.execute(select(audit_log.c.detail).where(audit_log.c.action == "publish_purpose_text")).scalars()
        return [json.loads(r) if isinstance(r, str) else r for r in rows]


def test_an_unchanged_text_is_refused(org_db: Database, portal: Portal, admin: Actor) -> None:
    same = dict(OLD["print"])
    with pytest.raises(ConsentStateError, match="same as the current version 1 in every language"):
        publish_purpose_text(portal, actor=admin, code="print", texts=same)
    # Stray blanks and Windows line ends are no change either.
    padded = {
        k: TextContent(f" {v.title} ", v.body.replace(" ", " ") + "\r\n", v.recipients, v.data_categories)
        for k, v in same.items()
    }
    with pytest.raises(ConsentStateError, match="same as the current version"):
        publish_purpose_text(portal, actor=admin, code="print", texts=padded)
    # Only English given, unchanged, Swedish carried over: still nothing new.
    with pytest.raises(ConsentStateError):
        publish_purpose_text(portal, actor=admin, code="print", texts={"en": same["en"]}, carry_over=["sv"])
    assert _versions(org_db, "print") == [(1, "en"), (1, "sv")]
    assert _audits(org_db) == []


def test_a_language_left_out_blocks_publishing_unless_carried_over(
    org_db: Database, portal: Portal, admin: Actor
) -> None:
    with pytest.raises(ValidationError, match=r"No new sv text .*carry-over sv"):
        publish_purpose_text(portal, actor=admin, code="print", texts={"en": PRINT_EN})
    # An untouched Swedish text next to a changed English one is a forgotten translation, not a choice.
    with pytest.raises(ValidationError, match=r"sv text of 'print' is the same as the current one"):
        publish_purpose_text(portal, actor=admin, code="print", texts={"en": PRINT_EN, "sv": OLD["print"]["sv"]})
    with pytest.raises(ValidationError, match="both given and carried over"):
        publish_purpose_text(
            portal, actor=admin, code="print", texts={"en": PRINT_EN, "sv": OLD["print"]["sv"]}, carry_over=["sv"]
        )
    with pytest.raises(ValidationError, match="not one of the organisation's languages"):
        publish_purpose_text(
            portal, actor=admin, code="print", texts={"en": PRINT_EN, "de": PRINT_EN}, carry_over=["sv"]
        )
    assert _versions(org_db, "print") == [(1, "en"), (1, "sv")]

    published = publish_purpose_text(portal, actor=admin, code="print", texts={"en": PRINT_EN}, carry_over=["sv"])
    assert published.version == 2 and published.carried_over == ("sv",) and published.changed == ("en",)
    assert _versions(org_db, "print") == [(1, "en"), (1, "sv"), (2, "en"), (2, "sv")]
    by_locale = {t.locale: t for t in published.texts}
    old_sv = OLD["print"]["sv"]
    assert (by_locale["sv"].title, by_locale["sv"].body, by_locale["sv"].recipients) == (
        old_sv.title,
        old_sv.body,
        tuple(old_sv.recipients),
    )
    assert by_locale["en"].body.endswith("sold at our shop.")
    [detail] = _audits(org_db)
    assert detail["version"] == 2 and detail["locales"] == ["en", "sv"]
    assert detail["carried_over"] == ["sv"] and detail["changed"] == ["en"]


def test_only_an_admin_publishes(org_db: Database, portal: Portal) -> None:
    manager = make_staff(org_db, role="manager", email="m@example.org")
    with pytest.raises(AuthError):
        publish_purpose_text(portal, actor=manager, code="print", texts={"en": PRINT_EN}, carry_over=["sv"])


def test_a_stale_preview_is_not_published(org_db: Database, portal: Portal, admin: Actor) -> None:
    plan = preview_purpose_text(portal, code="print", texts={"en": PRINT_EN}, carry_over=["sv"])
    publish_purpose_text(portal, actor=admin, code="print", texts={"en": PRINT_EN}, carry_over=["sv"])
    newer = TextContent(PRINT_EN.title, PRINT_EN.body + " And at fairs.", PRINT_EN.recipients)
    with pytest.raises(ConsentStateError, match="after your preview"):
        publish_purpose_text(
            portal,
            actor=admin,
            code="print",
            texts={"en": newer},
            carry_over=["sv"],
            based_on_version=plan.current_version,
        )
    assert max(v for v, _ in _versions(org_db, "print")) == 2


def test_the_preview_counts_people_and_photos_that_would_need_renewal(
    org_db: Database, portal: Portal, admin: Actor
) -> None:
    manager = make_staff(org_db)
    now = utcnow()
    grace = make_subject(org_db, name="Grace", choices={"print": True})
    zidane = make_subject(org_db, name="Zidane", choices={"print": False})
    make_subject(org_db, name="Dora", choices={"print": True})  # no photo, still a person who must renew
    make_subject(org_db, name="Lapsed", choices={"print": True}, now=now - timedelta(days=400))  # already expired
    make_subject(org_db, name="Other", choices={"website": True})  # another purpose
    faces = {}
    for name, who in (("grace_hopper", grace), ("zidane", zidane)):
        asset = ingest(
            org_db,
            portal.blobs,
            data=group_photo([name]),
            filename=f"{name}.jpg",
            max_pixels=portal.settings.max_image_pixels,
        ).asset
        run_worker(org_db, portal.blobs, portal.settings)
        with org_db.read() as conn:
            [face] = [d for d in asset_detections(conn, asset.id) if d.kind == "face"]
        link_face(portal, actor=manager, detection_id=face.id, subject_id=who)
        faces[name] = asset.id

    plan = preview_purpose_text(portal, code="print", texts={"en": PRINT_EN}, carry_over=["sv"])
    # Grace and Dora hold a valid print consent; Zidane refused and Lapsed expired: nothing changes for them.
    assert plan.impact.people == 2
    # Grace's photo is usable now and would be at risk; Zidane's is at risk already.
    assert plan.impact.photos == 1 and plan.impact.publications == 0
    assert (plan.current_version, plan.version) == (1, 2)
    [en, sv] = plan.locales
    assert (en.locale, en.state, sv.locale, sv.state) == ("en", "changed", "sv", "carried_over")
    assert ("added", "Printed matter is also sold at our shop.") in en.body and not en.title_changed

    publish_purpose_text(portal, actor=admin, code="print", texts={"en": PRINT_EN}, carry_over=["sv"])
    [detail] = _audits(org_db)
    assert (detail["people"], detail["photos"]) == (2, 1)
    [summary] = purpose_summaries(portal, code="print")
    # The lapsed consent counts as superseded too now: renewing under the new text is what would fix it.
    assert summary.version == 2 and summary.counts == {"superseded": 3, "refused": 1} and summary.photos_usable == 0
    with org_db.read() as conn:
        assert risk_index.check(conn) == []
    # Once published, the next version would put nobody else at risk: they already must renew.
    again = preview_purpose_text(
        portal,
        code="print",
        texts={"en": TextContent(PRINT_EN.title, PRINT_EN.body + " Also at fairs.", PRINT_EN.recipients)},
        carry_over=["sv"],
    )
    assert (again.impact.people, again.impact.photos) == (0, 0)


# --- the CLI -----------------------------------------------------------------------------------------------------


def _cli(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli_main([*argv, "--database-url", url])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_purposes_list_and_show(org_db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    make_subject(org_db, name="Grace", choices={"print": True, "website": False})
    code, out, err = _cli(capsys, org_db.url, "purposes", "list", "--json")
    assert code == 0, err
    listed = {p["code"]: p for p in json.loads(out)}
    assert set(listed) == {p.code for p in STANDARD_PURPOSES}
    assert listed["print"]["version"] == 1 and listed["print"]["locales"] == ["en", "sv"]
    assert listed["print"]["consents"] == {"given": 1} and listed["website"]["consents"] == {"refused": 1}
    code, out, err = _cli(capsys, org_db.url, "purposes", "show", "print", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["texts"]["sv"]["title"] == OLD["print"]["sv"].title
    code, out, err = _cli(capsys, org_db.url, "purposes", "show", "print")
    assert code == 0 and f"[sv] {OLD['print']['sv'].title}" in out and "given 1" in out
    code, out, err = _cli(capsys, org_db.url, "purposes", "list")
    assert code == 0 and "superseded" in out.splitlines()[0]
    code, out, err = _cli(capsys, org_db.url, "purposes", "show", "billboards")
    assert code == 1 and "billboards" in err


def test_purposes_publish_previews_then_needs_yes(
    org_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_subject(org_db, name="Grace", choices={"print": True})
    en = tmp_path / "print-en.txt"
    en.write_text(f"{PRINT_EN.title}\n\n{PRINT_EN.body}\n", encoding="utf-8")
    args = ("purposes", "publish", "print", "--text-file", str(en), "--locale", "en", "--carry-over", "sv")
    code, out, err = _cli(capsys, org_db.url, *args)
    assert code == 1 and "add --yes to publish" in err
    assert "+ Printed matter is also sold at our shop." in out and "[sv] carried over" in out
    assert "Impact: 1 person(s) would have to renew" in out
    assert _versions(org_db, "print") == [(1, "en"), (1, "sv")]

    code, out, err = _cli(capsys, org_db.url, *args, "--yes")
    assert code == 0, err
    assert "Published version 2 of print (en, sv; carried over unchanged: sv)" in out
    [summary] = purpose_summaries(make_portal(org_db, tmp_path / "blobs"), code="print")
    # A plain-text file keeps the current recipients and data categories.
    assert summary.texts["en"].recipients == tuple(OLD["print"]["en"].recipients)
    [detail] = _audits(org_db)
    assert detail["carried_over"] == ["sv"] and detail["people"] == 1

    # The same file again is no change.
    code, out, err = _cli(capsys, org_db.url, *args, "--yes")
    assert code == 1 and "same as the current version 2" in err


def test_purposes_publish_json_file_and_missing_language(
    org_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    en = tmp_path / "en.json"
    en.write_text(json.dumps({"title": "Print", "body": "Brochures.", "recipients": ["Readers"]}), encoding="utf-8")
    code, _out, err = _cli(
        capsys, org_db.url, "purposes", "publish", "print", "--text-file", str(en), "--locale", "en", "--yes"
    )
    assert code == 2 and "No new sv text" in err and "carry-over sv" in err
    sv = tmp_path / "sv.json"
    sv.write_text(json.dumps({"title": "Tryck", "body": "Broschyrer.", "recipients": ["Läsare"]}), encoding="utf-8")
    code, _out, err = _cli(
        capsys,
        org_db.url,
        *("purposes", "publish", "print", "--text-file", str(en), "--locale", "en"),
        *("--text-file", str(sv), "--locale", "sv", "--yes"),
    )
    assert code == 0, err
    [summary] = purpose_summaries(make_portal(org_db, tmp_path / "blobs"), code="print")
    assert summary.texts["sv"].recipients == ("Läsare",) and summary.texts["en"].body == "Brochures."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"title": "Print"}', "'body' must be a non-empty string"),
        ('{"title": "P", "body": "B", "recipients": "Readers"}', "'recipients' must be a list"),
        ('{"title": "P", "body": "B", "colour": "red"}', "unknown field 'colour'"),
        ("Title\nno blank line", "after the title line comes a blank line"),
        ("\n\nbody", "first line must be the title"),
    ],
)
def test_purposes_publish_refuses_a_bad_file_with_exit_2(
    org_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(content, encoding="utf-8")
    code, _out, err = _cli(
        capsys,
        org_db.url,
        "purposes",
        "publish",
        "print",
        "--text-file",
        str(bad),
        "--locale",
        "en",
        "--carry-over",
        "sv",
    )
    assert code == 2 and message in err and "Traceback" not in err
    assert _versions(org_db, "print") == [(1, "en"), (1, "sv")]


def test_purposes_publish_refuses_unpaired_or_unreadable_files(
    org_db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _out, err = _cli(
        capsys, org_db.url, "purposes", "publish", "print", "--text-file", str(tmp_path / "none.txt")
    )
    assert code == 2 and "one --locale for each --text-file" in err
    code, _out, err = _cli(
        capsys, org_db.url, "purposes", "publish", "print", "--text-file", str(tmp_path / "none.txt"), "--locale", "en"
    )
    assert code == 2 and "cannot read" in err
    binary = tmp_path / "latin1.txt"
    binary.write_bytes("Tryck\n\nBröschyr".encode("latin-1"))
    code, _out, err = _cli(
        capsys, org_db.url, "purposes", "publish", "print", "--text-file", str(binary), "--locale", "en"
    )
    assert code == 2 and "not UTF-8" in err


# --- the Settings page -----------------------------------------------------------------------------------------


def test_settings_page_previews_the_impact_and_publishes_after_confirmation(seeded_portal: SeededPortal) -> None:
    db = seeded_portal.db
    at = AppTest.from_file(APP, default_timeout=90).run()
    at.text_input[0].input("admin@demo.example")
    at.text_input[1].input("demo-admin-pass")
    at = at.button[0].click().run()
    at.switch_page("portal/pages/settings.py").run()
    at.selectbox(key="text_purpose").select("print").run()
    before = _versions(db, "print")

    # Only English edited: the untouched Swedish text blocks the preview until it is kept on purpose.
    at.text_area(key="text_body_print_en").input(
        str(at.text_area(key="text_body_print_en").value) + " Also sold at our shop."
    )
    next(b for b in at.button if b.label == "Preview the change").click().run()
    assert not at.exception
    assert any("sv text of 'print' is the same" in e.value for e in at.error)

    at.checkbox(key="text_keep_print_sv").check()
    next(b for b in at.button if b.label == "Preview the change").click().run()
    assert not at.exception
    assert any("Also sold at our shop." in str(m.value).replace("\\", "") for m in at.markdown)
    assert any("person(s)" in w.value and "photo(s)" in w.value for w in at.warning)
    publish = at.button(key="text_publish_print")
    assert publish.disabled  # not before the confirmation
    at.checkbox(key="text_confirm_print").check().run()
    at.button(key="text_publish_print").click().run()
    assert not at.exception
    new_version = max(v for v, _ in before) + 1
    assert any(f"Published version {new_version}" in s.value for s in at.success)
    assert _versions(db, "print") == [*before, (new_version, "en"), (new_version, "sv")]
    with db.read() as conn:
        assert risk_index.check(conn) == []
    [detail] = _audits(db)
    assert detail["carried_over"] == ["sv"] and detail["changed"] == ["en"]
