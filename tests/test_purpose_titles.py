"""Issue 16: staff views name purposes by their current titles, in the staff language, never by bare codes."""

from __future__ import annotations

from dataclasses import replace

from portal.backend.consent.purposes import TextContent, add_purpose, publish_text
from portal.backend.consent.titles import purpose_titles, staff_locale
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.organisation import get_organisation, save_organisation


def test_titles_follow_the_current_text_in_the_staff_language(org_db: Database) -> None:
    assert staff_locale(["sv", "en"]) == "en" and staff_locale(["sv"]) == "sv" and staff_locale([]) == "en"
    with org_db.read() as conn:
        titles = purpose_titles(conn)
    assert titles["social_media"] == "Social media" and titles["website"] == "Our website"
    assert list(titles)[:3] == ["internal", "website", "social_media"]  # display order
    with org_db.write() as conn:
        # A new version of a text: its new title, at once.
        publish_text(
            conn,
            code="website",
            texts={
                "en": TextContent("Our website and newsletter", "We show photos of you on our website."),
                "sv": TextContent("Vår webbplats och nyhetsbrev", "Vi visar bilder på dig på vår webbplats."),
            },
            now=utcnow(),
        )
        assert purpose_titles(conn)["website"] == "Our website and newsletter"
        # An organisation that writes only Swedish texts: its staff read the Swedish titles.
        save_organisation(conn, replace(get_organisation(conn), languages="sv"), now=utcnow())
        assert purpose_titles(conn)["social_media"] == "Sociala medier"
        assert purpose_titles(conn)["website"] == "Vår webbplats och nyhetsbrev"
        assert purpose_titles(conn, locale="en")["social_media"] == "Social media"
        # A purpose with no text yet keeps its code rather than vanishing from a table.
        add_purpose(conn, code="billboards", dpv_code="dpv:Advertising", now=utcnow())
        assert purpose_titles(conn)["billboards"] == "billboards"
