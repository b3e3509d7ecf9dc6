"""Replaced purpose texts (R16): a consent under an old version is 'superseded' everywhere until it is renewed."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from portal.backend.consent.queries import pending_renewals
from portal.backend.consent.records import Context
from portal.backend.consent.services import Decision, TextContent, change_consent, publish_purpose_text
from portal.backend.consent.status import ALLOWING, status_for, subject_consents
from portal.backend.i18n.purposes import STANDARD_PURPOSES
from portal.backend.ops.bootstrap import open_portal
from portal.backend.people.subjects import link_token, list_subjects
from portal.backend.photos.analysis import run_worker
from portal.backend.photos.assets import asset_detections, ingest
from portal.backend.photos.services import link_face
from portal.backend.photos.vision.schemas import Box
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import asset_risk, consent_ledger, purposes, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import ConsentStateError
from portal.backend.platform.runtime import Portal
from portal.backend.risk import index as risk_index
from portal.backend.risk.index import REASON_BITS
from portal.cli import main as cli_main
from tests.conftest import APP
from tests.factories import create_personal_link, make_portal, make_staff, make_subject, open_folded, record_consent
from tests.imagery import group_photo
from tests.seeded import SeededPortal

_OLD = next(p.texts["en"] for p in STANDARD_PURPOSES if p.code == "website")
# The standard website text with one sentence and one recipient added.
NEW_WEBSITE = TextContent(
    _OLD.title,
    _OLD.body + " We also put them in our monthly newsletter.",
    (*_OLD.recipients, "Newsletter readers"),
    _OLD.data_categories,
)


@dataclass
class Scene:
    """Grace (website and print given, linked by hand) next to an unlinked astronaut in one analysed photo."""

    db: Database
    portal: Portal
    url: str
    admin: Actor
    asset_id: int
    grace: str
    grace_box: Box
    blobs_dir: Path


@pytest.fixture
def scene(org_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scene:
    data = tmp_path / "data"
    monkeypatch.setenv("PORTAL_DATA_DIR", str(data))  # the CLI reads the same blob store
    portal = make_portal(org_db, data / "blobs")
    manager = make_staff(org_db)
    admin = make_staff(org_db, role="admin", email="admin@example.org")
    asset = ingest(
        org_db,
        portal.blobs,
        data=group_photo(["astronaut", "grace_hopper"]),
        filename="pair.jpg",
        max_pixels=portal.settings.max_image_pixels,
    ).asset
    run_worker(org_db, portal.blobs, portal.settings)
    grace = make_subject(org_db, name="Grace Hopper", choices={"website": True, "print": True})
    with org_db.read() as conn:
        faces = [d for d in asset_detections(conn, asset.id) if d.kind == "face"]
    grace_face = max(faces, key=lambda d: d.box.x)  # Grace stands on the right
    link_face(portal, actor=manager, detection_id=grace_face.id, subject_id=grace)
    return Scene(org_db, portal, org_db.url, admin, asset.id, grace, grace_face.box, data / "blobs")


def _replace_website(scene: Scene) -> int:
    """Publish a new English website text, the Swedish one carried over; returns the new version."""
    return publish_purpose_text(
        scene.portal, actor=scene.admin, code="website", texts={"en": NEW_WEBSITE}, carry_over=["sv"]
    ).version


def _cli(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    """Run one CLI command in-process; returns (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = cli_main([*argv, "--database-url", url])
    out = capsys.readouterr()
    return code, out.out, out.err


def _region(image: Image.Image, box: Box) -> np.ndarray:
    w, h = image.size
    return np.asarray(image.convert("RGB"))[
        round(box.y * h) : round((box.y + box.h) * h), round(box.x * w) : round((box.x + box.w) * w)
    ].astype(int)


def _grace_changed(scene: Scene, rendered: Path) -> float:
    """Mean pixel difference of Grace's face between the original and a rendition (large when blurred)."""
    with scene.db.read() as conn:
        from portal.backend.platform.db.schema import assets

        key = conn.execute(select(assets.c.blob_key).where(assets.c.id == scene.asset_id)).scalar_one()
    original = Image.open(io.BytesIO(scene.portal.blobs.get(key)))
    safe = Image.open(rendered)
    return float(np.abs(_region(safe, scene.grace_box) - _region(original, scene.grace_box)).mean())


def test_a_replaced_text_makes_the_consent_superseded_and_not_allowed(scene: Scene) -> None:
    version = _replace_website(scene)
    now = utcnow()
    with scene.db.read() as conn:
        statuses = subject_consents(conn, scene.grace, now)
        website = next(s for s in statuses if s.purpose_code == "website" and s.scope_asset_id is None)
        _total, rows = list_subjects(conn, now=now)
        reasons = conn.execute(
            select(asset_risk.c.reasons)
            .join(purposes, purposes.c.id == asset_risk.c.purpose_id)
            .where(asset_risk.c.asset_id == scene.asset_id, purposes.c.code == "website")
        ).scalar_one()
        problems = risk_index.check(conn)
    assert (website.status, website.text_version, website.current_version) == ("superseded", version - 1, version)
    assert not website.allowed and "superseded" not in ALLOWING
    assert status_for(statuses, "website") == "superseded"
    assert status_for(statuses, "website", scene.asset_id) == "superseded"  # the photo follows the general status
    assert status_for(statuses, "print") == "given"  # only the purpose whose text changed
    assert next(r for r in rows if r.id == scene.grace).consents == {"website": "superseded", "print": "given"}
    # The risk index and the status rules agree: the photo is at risk for the website because of the text.
    assert reasons & REASON_BITS["superseded"]
    assert problems == []


def test_a_per_photo_grant_under_a_replaced_text_is_superseded_too(scene: Scene) -> None:
    person = make_subject(scene.db, name="Per Photo", choices={})
    record_consent(
        scene.db,
        subject_id=person,
        decisions=[Decision("website", "given", asset_id=scene.asset_id)],
        context=Context(channel="staff", actor="staff:test", evidence={}),
    )
    _replace_website(scene)
    with scene.db.read() as conn:
        statuses = subject_consents(conn, person, utcnow())
        assert risk_index.check(conn) == []
    assert status_for(statuses, "website") == "unknown"
    assert status_for(statuses, "website", scene.asset_id) == "superseded"
    # Renewing that photo's grant records it under the new text.
    change_consent(
        scene.portal,
        actor=Actor.subject(person),
        subject_id=person,
        decisions=[Decision("website", "renewed", asset_id=scene.asset_id)],
        channel="portal",
    )
    with scene.db.read() as conn:
        assert status_for(subject_consents(conn, person, utcnow()), "website", scene.asset_id) == "renewed"


def test_a_replaced_text_blurs_the_face_until_subjects_renew(
    scene: Scene, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = tmp_path / "before.jpg"
    code, out, err = _cli(
        capsys, scene.url, "assets", "render", str(scene.asset_id), "--purpose", "website", "--out", str(before)
    )
    assert code == 0, err
    assert _grace_changed(scene, before) < 3  # Grace's consent holds: her face is kept

    version = _replace_website(scene)
    blurred = tmp_path / "blurred.jpg"
    code, out, err = _cli(
        capsys, scene.url, "assets", "render", str(scene.asset_id), "--purpose", "website", "--out", str(blurred)
    )
    assert code == 0, err
    assert _grace_changed(scene, blurred) > 15  # superseded: blurred like a face without consent

    code, out, err = _cli(capsys, scene.url, "subjects", "renew", scene.grace, "--purpose", "website")
    assert code == 0, err
    assert f"website (text version {version})" in out
    with scene.db.read() as conn:
        last = conn.execute(select(consent_ledger).order_by(consent_ledger.c.seq.desc()).limit(1)).one()
        assert risk_index.check(conn) == []
    assert (last.action, last.text_version, last.channel) == ("renewed", version, "staff")

    kept = tmp_path / "kept.jpg"
    code, out, err = _cli(
        capsys, scene.url, "assets", "render", str(scene.asset_id), "--purpose", "website", "--out", str(kept)
    )
    assert code == 0, err
    assert _grace_changed(scene, kept) < 3  # renewed under the new text: kept again


def test_a_superseded_consent_is_withdrawn_with_one_step_and_cannot_be_refused(scene: Scene) -> None:
    _replace_website(scene)
    me = Actor.subject(scene.grace)
    with pytest.raises(ConsentStateError, match="record a withdrawal"):
        change_consent(
            scene.portal, actor=me, subject_id=scene.grace, decisions=[Decision("website", "refused")], channel="portal"
        )
    change = change_consent(
        scene.portal, actor=me, subject_id=scene.grace, decisions=[Decision("website", "withdrawn")], channel="portal"
    )
    [entry] = change.entries
    assert entry.action == "withdrawn" and entry.text_version == 1  # it refers to the wording that was agreed to
    with scene.db.read() as conn:
        statuses = subject_consents(conn, scene.grace, utcnow())
        assert risk_index.check(conn) == []
    assert status_for(statuses, "website") == "withdrawn"
    # A withdrawn consent is not renewed: the person gives it again if they want.
    with pytest.raises(ConsentStateError, match="Cannot mark consent"):
        change_consent(
            scene.portal, actor=me, subject_id=scene.grace, decisions=[Decision("website", "renewed")], channel="portal"
        )


def test_withdraw_everything_includes_superseded_consents(scene: Scene) -> None:
    from portal.backend.consent.services import withdraw_everything

    _replace_website(scene)
    change = withdraw_everything(
        scene.portal, actor=Actor.subject(scene.grace), subject_id=scene.grace, channel="portal"
    )
    assert sorted(e.action for e in change.entries) == ["withdrawn", "withdrawn"]  # website (superseded) and print


def test_superseded_comes_before_expiry_like_in_the_risk_index(scene: Scene) -> None:
    _replace_website(scene)
    later = utcnow() + timedelta(days=4000)  # past every validity period
    with scene.db.read() as conn:
        statuses = subject_consents(conn, scene.grace, later)
    assert status_for(statuses, "website") == "superseded"  # renewing under the new text fixes both
    assert status_for(statuses, "print") == "expired"


def test_pending_renewals_show_what_changed(scene: Scene) -> None:
    _replace_website(scene)
    [renewal] = pending_renewals(scene.portal, subject_id=scene.grace, locale="en")
    assert renewal.purpose_code == "website" and renewal.scope_asset_id is None
    assert (renewal.old.version, renewal.new.version) == (1, 2)
    assert ("added", "We also put them in our monthly newsletter.") in renewal.body
    assert renewal.recipients_added == ("Newsletter readers",) and not renewal.recipients_removed
    assert not renewal.title_changed
    # In Swedish the carried-over text did not change: the diff says so (nothing added or removed).
    [swedish] = pending_renewals(scene.portal, subject_id=scene.grace, locale="sv")
    assert swedish.new.locale == "sv" and all(kind == "same" for kind, _ in swedish.body)


# --- the personal page ------------------------------------------------------------------------------------------


def _subject_id(db: Database, name: str) -> str:
    with db.read() as conn:
        return conn.execute(select(subjects.c.id).where(subjects.c.display_name == name)).scalar_one()


def _page(db: Database, name: str) -> AppTest:
    s = load_settings(env={}, secrets_path=None)
    url = create_personal_link(
        db, subject_id=_subject_id(db, name), secret=s.secret_key, base_url=s.base_url, ttl_days=30
    )
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["link"] = link_token(url)
    return at.run()


def test_the_personal_page_asks_to_renew_and_records_renewed_under_the_new_version(
    seeded_portal: SeededPortal,
) -> None:
    db = seeded_portal.db
    portal = open_portal(load_settings())
    admin = make_staff(db, role="admin", email="texts@example.org")
    with db.read() as conn:
        before = subject_consents(conn, _subject_id(db, "Olivia Karlsson"), utcnow())
    assert status_for(before, "social_media") in ALLOWING
    published = publish_purpose_text(
        portal,
        actor=admin,
        code="social_media",
        texts={
            "en": TextContent(
                "Social media", "We post photos on Instagram. We now also post them on TikTok.", ("Instagram", "TikTok")
            ),
            "sv": TextContent(
                "Sociala medier", "Vi lägger upp bilder på Instagram. Nu även på TikTok.", ("Instagram", "TikTok")
            ),
        },
    )

    at = _page(db, "Olivia Karlsson")
    assert not at.exception
    shown = "\n".join(str(m.value) for m in at.markdown)
    assert "Our text has changed: please look again" in [s.value for s in at.subheader]
    assert "We now also post them on TikTok." in shown.replace("\\", "")
    assert "TikTok" in shown  # the new recipient is named
    # The consent card says the text changed and still offers the one-tap withdrawal.
    open_folded(at, "change_social_media")
    assert any("Text changed" in str(m.value) for m in at.markdown)
    assert "withdraw_social_media" in [b.key for b in at.button]

    at.button(key="renew_social_media_all").click().run()
    assert not at.exception
    assert "Renewed" in at.success[0].value
    with db.read() as conn:
        last = conn.execute(select(consent_ledger).order_by(consent_ledger.c.seq.desc()).limit(1)).one()
        statuses = subject_consents(conn, _subject_id(db, "Olivia Karlsson"), utcnow())
        assert risk_index.check(conn) == []
    assert (last.action, last.text_version, last.channel, last.actor) == (
        "renewed",
        published.version,
        "portal",
        "subject",
    )
    assert status_for(statuses, "social_media") == "renewed"
    assert "renew_social_media_all" not in [b.key for b in at.button]  # nothing left to renew


def test_the_renewal_prompt_speaks_the_persons_language(seeded_portal: SeededPortal) -> None:
    db = seeded_portal.db
    portal = open_portal(load_settings())
    admin = make_staff(db, role="admin", email="texts@example.org")
    publish_purpose_text(
        portal,
        actor=admin,
        code="social_media",
        texts={
            "en": TextContent("Social media", "We post photos on Instagram and TikTok.", ("Instagram",)),
            "sv": TextContent("Sociala medier", "Vi lägger upp bilder på Instagram och TikTok.", ("Instagram",)),
        },
    )
    at = _page(db, "Anna Lindqvist")  # her language is Swedish
    assert not at.exception
    assert "Vår text har ändrats: titta gärna igen" in [s.value for s in at.subheader]
    assert "Förnya" in [b.label for b in at.button]
