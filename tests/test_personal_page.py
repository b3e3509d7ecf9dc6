"""The personal page through Streamlit's AppTest on the demo portal, on both databases: every message in the person's
language (a refusal from the backend too), "That's not me" confirmed on the page taking the photo off it, and every
receipt listed with a label."""

from __future__ import annotations

from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from portal.backend.consent.queries import subject_receipts
from portal.backend.consent.services import Decision, change_consent
from portal.backend.i18n import MESSAGES
from portal.backend.people.subjects import link_token
from portal.backend.photos.queries import personal_photos
from portal.backend.platform.actors import Actor
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.schema import audit_log, detections, subjects
from portal.backend.platform.runtime import Portal
from tests.conftest import APP
from tests.factories import create_personal_link, make_portal, open_folded
from tests.seeded import SeededPortal


def _person_in_photos(seeded: SeededPortal) -> str:
    """The adult demo person confirmed in the most photos."""
    with seeded.db.read() as conn:
        return str(
            conn.execute(
                select(detections.c.subject_id)
                .join(subjects, subjects.c.id == detections.c.subject_id)
                .where(
                    detections.c.link_status == "confirmed",
                    subjects.c.erased_at.is_(None),
                    subjects.c.is_minor.is_(False),  # an adult: a give needs no guardian step here
                )
                .group_by(detections.c.subject_id)
                .order_by(func.count(func.distinct(detections.c.asset_id)).desc(), detections.c.subject_id)
                .limit(1)
            ).scalar_one()
        )


def _page(seeded: SeededPortal, subject_id: str, locale: str) -> AppTest:
    """The person's page, opened with a fresh link, in `locale`, every section open."""
    s = load_settings(env={}, secrets_path=None)
    url = create_personal_link(seeded.db, subject_id=subject_id, secret=s.secret_key, base_url=s.base_url, ttl_days=30)
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["link"] = link_token(url)
    at.run()
    at.segmented_control(key="locale").set_value(locale).run()
    assert not at.exception
    # Every section opened, as a person who taps each one (the folded ones draw their content only then).
    return open_folded(at, *(e.key for e in at.expander if e.key))


def _texts(at: AppTest) -> str:
    """Everything the page says in Markdown, labels and alerts."""
    parts = [m.value for m in at.markdown] + [e.label for e in at.expander] + [b.label for b in at.button]
    return "\n".join(parts + [a.value for a in (*at.success, *at.error, *at.info, *at.warning)])


def test_the_page_speaks_swedish_and_not_me_takes_the_photo_off_it(seeded_portal: SeededPortal) -> None:
    sid = _person_in_photos(seeded_portal)
    portal: Portal = make_portal(seeded_portal.db, seeded_portal.data_dir / "blobs")
    photos = personal_photos(portal, subject_id=sid)
    assert photos
    at = _page(seeded_portal, sid, "sv")
    shown = _texts(at)
    sv = MESSAGES["sv"]
    for key in ("personal.photo_choices", "personal.not_me"):
        assert sv[key] in shown, key
    assert "Du tillåter" in shown and "Ändra:" in shown
    # None of the page's own English wording is left (purpose texts are the organisation's and may be English).
    for key, english in MESSAGES["en"].items():
        if key.startswith("personal.") and "{" not in english and english != sv[key]:
            assert english not in shown, key

    # "That's not me", confirmed: the photo leaves the page, the thanks is in Swedish, the act is audited.
    first = photos[0].asset_id
    at.button(key=f"not_me_{first}").click().run()
    assert sv["personal.not_me_ask"] in [w.value for w in at.warning]
    at.button(key=f"not_me_confirm_{first}").click().run()
    assert not at.exception
    assert sv["personal.not_me_done"] in [s.value for s in at.success]
    assert f"not_me_{first}" not in [b.key for b in at.button]
    assert first not in [p.asset_id for p in personal_photos(portal, subject_id=sid)]
    with seeded_portal.db.read() as conn:
        assert conn.execute(
            select(func.count()).select_from(audit_log).where(audit_log.c.action == "subject_not_me")
        ).scalar_one() == 1  # fmt: skip


def test_a_stale_tab_is_answered_in_the_persons_language_next_to_the_button(seeded_portal: SeededPortal) -> None:
    sid = _person_in_photos(seeded_portal)
    portal = make_portal(seeded_portal.db, seeded_portal.data_dir / "blobs")
    at = _page(seeded_portal, sid, "sv")
    allowed = [b.key for b in at.button if b.key and b.key.startswith("withdraw_") and b.key != "withdraw_all"]
    assert allowed
    code = allowed[0].removeprefix("withdraw_")
    # Another tab withdraws first; this tab still shows the button.
    change_consent(portal, actor=Actor.subject(sid), subject_id=sid, decisions=[Decision(code, "withdrawn")],
                   channel="portal", locale="sv")  # fmt: skip
    at.button(key=f"withdraw_{code}").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [MESSAGES["sv"]["personal.stale"]]  # not the backend's English


def test_every_receipt_is_listed_with_a_label(seeded_portal: SeededPortal) -> None:
    sid = _person_in_photos(seeded_portal)
    portal = make_portal(seeded_portal.db, seeded_portal.data_dir / "blobs")
    me = Actor.subject(sid)
    for n in range(12):  # more than the ten the old page showed
        action = "given" if n % 2 == 0 else "withdrawn"
        change_consent(portal, actor=me, subject_id=sid, decisions=[Decision("print", action)], channel="portal",
                       locale="en")  # fmt: skip
    at = _page(seeded_portal, sid, "en")
    labels = [m.value for m in at.markdown if " UTC**" in m.value]
    assert len(labels) >= 12
    newest = subject_receipts(portal, subject_id=sid)[-1]
    language = MESSAGES["en"][f"personal.receipt_language.{newest.locale}"]
    assert "Withdrawn: Printed material" in labels[0] and labels[0].endswith(language)
    assert f"**{newest.created_at:%Y-%m-%d %H:%M} UTC**" in labels[0]
    assert "Given: Printed material" in labels[1]
    assert any(e.label.startswith("Your receipts (") for e in at.expander)
