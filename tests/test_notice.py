"""The notice at collection's second layer (Art. 13) read from a real database, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import insert, select, update
from streamlit.testing.v1 import AppTest

from portal.backend.consent.notice import Notice, duration, notice_for, web_url
from portal.backend.consent.purposes import get_purpose
from portal.backend.events.store import event_url
from portal.backend.i18n.notice import NOTICE_MESSAGES
from portal.backend.people.subjects import link_token
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import purposes, recipients, subjects
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.organisation import get_organisation, save_organisation
from tests.conftest import APP, shown
from tests.factories import create_personal_link, open_folded
from tests.seeded import SeededPortal

STANDARD = ["internal", "website", "social_media", "print", "partners", "face_matching"]


def _notice(db: Database, locale: str = "en", **kw: object) -> Notice:
    with db.read() as conn:
        return notice_for(conn, locale, **kw)  # type: ignore[arg-type]


def _set_org(db: Database, **changes: object) -> None:
    with db.write() as conn:
        save_organisation(conn, replace(get_organisation(conn), **changes), now=utcnow())  # type: ignore[arg-type]


def _add_recipient(db: Database, *, purpose: str | None, name: str, country: str, kind: str, **kw: str) -> None:
    with db.write() as conn:
        purpose_id = get_purpose(conn, purpose).id if purpose else None
        conn.execute(
            insert(recipients).values(
                purpose_id=purpose_id, name=name, country=country, kind=kind, created_at=utcnow(), **kw
            )
        )


def test_every_item_of_article_13_is_there(org_db: Database) -> None:
    n = _notice(org_db)
    assert n.controller == "Nordlys Events AB, Storgatan 1, 222 22 Lund, SE."
    assert n.contact == "Contact: privacy@nordlys.example, +46-46-123456."
    assert n.dpo == "Karin Berg (dpo@nordlys.example)."
    assert [p.code for p in n.purposes] == STANDARD
    website = n.purposes[1]
    assert website.title == "Our website"
    assert "Your consent (GDPR Art. 6(1)(a))" in website.legal_basis and "9(2)" not in website.legal_basis
    # The organisation's validity (make_org: 365 days), in words.
    assert website.consent_lasts.startswith("1 year from the day you give it")
    # No retention period on any purpose: kept until the organisation deletes them, withdrawal stops the use.
    assert "until you withdraw" in website.photos_kept and "Nordlys Events AB" in website.photos_kept
    # Without rows in `recipients`, the purpose's text names them (no country known, so no transfer note).
    assert [r.name for r in website.recipients] == ["Visitors to our website (the public)"]
    assert all(r.country == "" and r.transfer_note == "" for p in n.purposes for r in p.recipients)
    data = "\n".join(n.data_collected)
    for item in ("Your name", "e-mail address", "month and year of birth", "guardian's name", "Photos of you",
                 "(a box)", "face template", "record of each choice"):  # fmt: skip
        assert item in data, item
    assert "phone" not in data  # the form does not ask for one
    assert [r.code for r in n.rights] == ["access", "portability", "withdrawal", "erasure", "rectification"]
    how = {r.code: r.how for r in n.rights}
    # Each right says which button on the personal page does it, with the page's own button labels.
    assert "“Prepare a download of my data”, then “Download my data (ZIP)”" in how["access"]
    assert "“Withdraw”" in how["withdrawal"] and "privacy@nordlys.example" in how["withdrawal"]
    assert "“Erase me”" in how["erasure"]
    assert "privacy@nordlys.example" in how["rectification"]
    assert "ZIP" in how["portability"]
    assert (
        n.authority
        == "You have the right to complain to the supervisory authority: Integritetsskyddsmyndigheten (IMY)."
    )
    assert (n.authority_name, n.authority_url) == ("Integritetsskyddsmyndigheten (IMY)", "https://www.imy.se")
    assert n.policy_url == "https://nordlys.example/privacy"
    assert n.shared_recipients == ()


def test_face_matching_rests_on_explicit_consent_under_article_9(org_db: Database) -> None:
    n = _notice(org_db)
    face = next(p for p in n.purposes if p.code == "face_matching")
    assert face.biometric
    assert "Art. 9(2)(a)" in face.legal_basis and "explicit consent" in face.legal_basis
    assert "face template" in face.photos_kept and "deleted when you withdraw" in face.photos_kept
    assert [p.code for p in n.purposes if "9(2)(a)" in p.legal_basis] == ["face_matching"]
    # The Swedish notice cites the same article the Swedish way.
    sv = _notice(org_db, "sv")
    assert "artikel 9.2 a" in next(p for p in sv.purposes if p.code == "face_matching").legal_basis


def test_only_the_forms_purposes_and_no_template_without_face_matching(org_db: Database) -> None:
    n = _notice(org_db, purpose_codes=["print", "internal"], asks_phone=True)
    assert [p.code for p in n.purposes] == ["internal", "print"]  # display order, not the order asked
    data = "\n".join(n.data_collected)
    assert "face template" not in data
    assert "phone number" in data


def test_validity_and_retention_come_from_the_purposes(org_db: Database) -> None:
    with org_db.write() as conn:
        conn.execute(update(purposes).where(purposes.c.code == "website").values(validity_days=180))
        conn.execute(update(purposes).where(purposes.c.code == "print").values(retention_days=730))
        conn.execute(update(purposes).where(purposes.c.code == "internal").values(retention_days=90))
    n = _notice(org_db)
    by_code = {p.code: p for p in n.purposes}
    assert by_code["website"].consent_lasts.startswith("6 months from")
    assert by_code["internal"].consent_lasts.startswith("1 year from")
    # The archive keeps a photo for the longest period of the purposes (a photo may serve any of them).
    assert by_code["internal"].photos_kept.startswith("Photos are kept for up to 2 years")
    assert by_code["website"].photos_kept.startswith("Photos are kept for up to 2 years")
    assert "face template" in by_code["face_matching"].photos_kept
    sv = {p.code: p for p in _notice(org_db, "sv").purposes}
    assert sv["website"].consent_lasts.startswith("6 månader från")
    assert sv["print"].photos_kept.startswith("Bilderna sparas i högst 2 år")


def test_recipients_from_the_table_with_a_transfer_note_outside_the_eea(org_db: Database) -> None:
    _add_recipient(
        org_db,
        purpose="social_media",
        name="Meta Platforms Inc.",
        country="us",
        kind="recipient",
        transfer_safeguard="the EU-U.S. Data Privacy Framework (adequacy decision)",
    )
    _add_recipient(org_db, purpose="social_media", name="LinkedIn Ireland", country="IE", kind="recipient")
    _add_recipient(org_db, purpose="print", name="Print Shop Ltd", country="GB", kind="processor")
    _add_recipient(org_db, purpose=None, name="Hosting AB", country="SE", kind="processor", service="servers")
    n = _notice(org_db)
    by_code = {p.code: p for p in n.purposes}
    social = {r.name: r for r in by_code["social_media"].recipients}
    # The table's rows replace the text's names for that purpose.
    assert set(social) == {"Meta Platforms Inc.", "LinkedIn Ireland"}
    assert social["Meta Platforms Inc."].country == "US"
    assert social["Meta Platforms Inc."].transfer_note == (
        "Outside the EU/EEA: the data is transferred there under the EU-U.S. Data Privacy Framework "
        "(adequacy decision)."
    )
    assert social["LinkedIn Ireland"].transfer_note == ""  # Ireland is in the EU
    (printer,) = by_code["print"].recipients
    assert printer.kind == "processor" and "only on our instructions" in printer.kind_label
    # No safeguard recorded: the person is told whom to ask rather than nothing.
    assert printer.transfer_note == "Outside the EU/EEA: ask privacy@nordlys.example how the transfer is safeguarded."
    # Other purposes keep the names their text gives.
    assert [r.name for r in by_code["internal"].recipients] == ["Our employees"]
    (hosting,) = n.shared_recipients
    assert (hosting.name, hosting.service, hosting.country, hosting.transfer_note) == (
        "Hosting AB",
        "servers",
        "SE",
        "",
    )
    sv = {p.code: p for p in _notice(org_db, "sv").purposes}
    meta = next(r for r in sv["social_media"].recipients if r.country == "US")
    assert meta.transfer_note.startswith("Utanför EU/EES: uppgifterna förs över dit med stöd av")


def test_no_authority_configured_gives_the_generic_right_to_complain(org_db: Database) -> None:
    _set_org(org_db, authority_name="", authority_url="https://www.imy.se", policy_url="", dpo_name="")
    n = _notice(org_db)
    assert n.authority.startswith("You have the right to complain to the data protection authority of the country")
    assert "IMY" not in n.authority and n.authority_name == ""
    assert n.authority_url == ""  # a link with no name would say nothing
    assert n.policy_url == "" and n.policy_text == "Ask privacy@nordlys.example for our privacy policy."
    assert n.dpo == ""
    sv = _notice(org_db, "sv")
    assert sv.authority.startswith("Du har rätt att klaga hos dataskyddsmyndigheten i det land")


def test_only_plain_web_addresses_from_settings_become_links(org_db: Database) -> None:
    _set_org(org_db, policy_url="javascript:alert(1)", authority_url="https://imy.se/x) [y](https://evil")
    n = _notice(org_db)
    assert n.policy_url == "" and "Ask privacy@nordlys.example" in n.policy_text
    assert n.authority_url == ""
    assert n.authority_name == "Integritetsskyddsmyndigheten (IMY)"  # the name stays, as text
    assert web_url(" https://www.imy.se/en/ ") == "https://www.imy.se/en/"
    assert web_url("http://host/a b") == "" and web_url("ftp://host") == "" and web_url("https://x<y") == ""


def test_swedish_notice_is_in_swedish(org_db: Database) -> None:
    sv = _notice(org_db, "sv")
    assert sv.controller == "Nordlys Events AB, Storgatan 1, 222 22 Lund, SE."
    assert sv.contact.startswith("Kontakt: ")
    website = next(p for p in sv.purposes if p.code == "website")
    assert website.title == "Vår webbplats"
    assert website.legal_basis.startswith("Ditt samtycke (artikel 6.1 a i dataskyddsförordningen)")
    assert website.consent_lasts.startswith("1 år från den dag du lämnar det")
    assert [r.name for r in website.recipients] == ["Besökare på vår webbplats (allmänheten)"]
    assert [r.title for r in sv.rights] == [
        "Se dina uppgifter och få en kopia (tillgång, artikel 15)",
        "Ta med dina uppgifter någon annanstans (dataportabilitet, artikel 20)",
        "Återkalla ditt samtycke (artikel 7.3)",
        "Få dina uppgifter raderade (artikel 17)",
        "Få felaktiga uppgifter rättade (artikel 16)",
    ]
    how = {r.code: r.how for r in sv.rights}
    assert "”Förbered en nedladdning av mina uppgifter” och sedan ”Ladda ner mina uppgifter (ZIP)”" in how["access"]
    assert "”Återkalla”" in how["withdrawal"] and "”Radera mig”" in how["erasure"]
    assert sv.authority == "Du har rätt att klaga hos tillsynsmyndigheten: Integritetsskyddsmyndigheten (IMY)."
    assert "Ditt namn." in sv.data_collected
    # No English left in the Swedish catalogue: same keys, and only the pure placeholders read the same.
    en, sv_messages = NOTICE_MESSAGES["en"], NOTICE_MESSAGES["sv"]
    assert set(sv_messages) == set(en)
    same = {key for key in en if en[key] == sv_messages[key]}
    assert same == {"controller", "dpo"}, same


@pytest.mark.parametrize(
    ("days", "en", "sv"),
    [(365, "1 year", "1 år"), (730, "2 years", "2 år"), (30, "1 month", "1 månad"), (180, "6 months", "6 månader"),
     (1, "1 day", "1 dag"), (45, "45 days", "45 dagar")],
)  # fmt: skip
def test_durations_read_as_people_say_them(days: int, en: str, sv: str) -> None:
    assert (duration(days, "en"), duration(days, "sv")) == (en, sv)


def _page_text(at: AppTest) -> str:
    return "\n".join(shown(e.value) for e in (*at.markdown, *at.caption))


def test_form_and_personal_page_hold_the_second_layer(seeded_portal: SeededPortal) -> None:
    db = seeded_portal.db
    s = load_settings(env={}, secrets_path=None)
    with db.read() as conn:
        token = event_url(conn, event_id=2, secret=s.secret_key, base_url=s.base_url).split("event=", 1)[1]
    at = AppTest.from_file(APP, default_timeout=90)
    at.query_params["event"] = token
    at.run()
    assert not at.exception
    assert [e.label for e in at.expander] == ["More about your data"]
    # Folded: the notice is read and drawn when the visitor opens it.
    assert "Integritetsskyddsmyndigheten" not in _page_text(at)
    text = _page_text(open_folded(at, "form_notice"))
    assert "Art. 9(2)(a)" in text and "Integritetsskyddsmyndigheten (IMY)" in text
    # The authority's address from Settings is a real link; everything else on the notice is plain text.
    assert "IMY). [https://www.imy.se](<https://www.imy.se>)" in text
    assert "“Erase me”" in text
    at.segmented_control(key="form_locale").set_value("sv").run()
    assert [e.label for e in at.expander] == ["Mer om dina uppgifter"]
    # Streamlit keys an expander's state by its label too: in the other language it is a new, closed expander.
    assert "artikel 9.2 a i dataskyddsförordningen" in _page_text(open_folded(at, "form_notice"))

    with db.read() as conn:
        olivia, locale = conn.execute(
            select(subjects.c.id, subjects.c.locale).where(subjects.c.display_name == "Olivia Karlsson")
        ).one()
    link = create_personal_link(db, subject_id=olivia, secret=s.secret_key, base_url=s.base_url, ttl_days=30)
    page = AppTest.from_file(APP, default_timeout=90)
    page.query_params["link"] = link_token(link)
    page.run()
    assert not page.exception
    # The page opens in her language, and the notice follows the page's language choice.
    assert [e.label for e in page.expander if e.key == "my_notice"] == [NOTICE_MESSAGES[locale]["heading"]]
    page.segmented_control(key="locale").set_value("en").run()
    assert "More about your data" in [e.label for e in page.expander]
    open_folded(page, "my_notice")
    assert "You have the right to complain to the supervisory authority: Integritetsskyddsmyndigheten" in _page_text(
        page
    )
