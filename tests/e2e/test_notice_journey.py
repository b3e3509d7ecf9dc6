"""The notice's second layer ("More about your data") on a 390x844 phone: opened by keyboard on the QR form and on
the personal page, in English and Swedish, with screenshots for a person to look at."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from portal.backend.events.store import event_url
from portal.backend.platform.config import load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import subjects
from tests.e2e.conftest import ARTIFACTS, LivePortal, settle
from tests.factories import create_personal_link

# Slower machines (CI) need more than expect's default five seconds for a script run.
WAIT = 60_000

# What each language's notice must say: the heading, a legal basis, the biometric article, the authority, a right.
LINES = {
    "en": (
        "More about your data",
        "Your consent (GDPR Art. 6(1)(a))",
        "Art. 9(2)(a)",
        "You have the right to complain to the supervisory authority: Integritetsskyddsmyndigheten (IMY).",
        "Have your data erased (Art. 17)",
    ),
    "sv": (
        "Mer om dina uppgifter",
        "Ditt samtycke (artikel 6.1 a i dataskyddsförordningen)",
        "artikel 9.2 a",
        "Du har rätt att klaga hos tillsynsmyndigheten: Integritetsskyddsmyndigheten (IMY).",
        "Få dina uppgifter raderade (artikel 17)",
    ),
}


def _fits(page) -> bool:  # type: ignore[no-untyped-def]
    """True when nothing is wider than the phone's screen."""
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def _choose_language(page, key: str, label: str) -> None:  # type: ignore[no-untyped-def]
    """Switch the page's language with its segmented control."""
    page.locator(f".st-key-{key}").get_by_text(label, exact=True).click()
    settle(page)


def _open_notice(page, key: str, locale: str, shot: str) -> None:  # type: ignore[no-untyped-def]
    """Open the expander with the keyboard (focus its summary, press Enter), check its key lines and screenshot it."""
    heading, basis, biometric, authority, right = LINES[locale]
    box = page.locator(f".st-key-{key}")
    summary = box.locator("summary")
    expect(summary).to_contain_text(heading, timeout=WAIT)
    settle(page)
    details = box.locator("details")
    if details.get_attribute("open") is None:
        summary.focus()
        summary.press("Enter")
    expect(details).to_have_attribute("open", "", timeout=WAIT)
    for line in (basis, biometric, authority, right):
        expect(box.get_by_text(line, exact=False).first).to_be_visible(timeout=WAIT)
    # The authority's address from the organisation's settings is a real link; nothing typed by anyone else is.
    expect(box.get_by_role("link", name="https://www.imy.se")).to_have_attribute(
        "href", "https://www.imy.se", timeout=WAIT
    )
    settle(page)
    assert _fits(page)
    box.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{shot}-390x844.png"), full_page=True)
    # Streamlit scrolls inside its own container, so a second shot shows the notice's end: rights and complaints.
    box.get_by_text(right, exact=False).first.scroll_into_view_if_needed()
    settle(page)
    page.screenshot(path=str(ARTIFACTS / f"{shot}-rights-390x844.png"))


def test_second_layer_on_form_and_personal_page(live_portal: LivePortal, browser_page) -> None:  # type: ignore[no-untyped-def]
    page = browser_page
    db = Database(live_portal.database_url)
    settings = load_settings(env={}, secrets_path=None, database_url=live_portal.database_url, base_url=live_portal.url)
    with db.read() as conn:
        qr_url = event_url(conn, event_id=2, secret=settings.secret_key, base_url=live_portal.url)
        olivia = conn.execute(select(subjects.c.id).where(subjects.c.display_name == "Olivia Karlsson")).scalar_one()
    link = create_personal_link(
        db, subject_id=olivia, secret=settings.secret_key, base_url=live_portal.url, ttl_days=30
    )
    db.dispose()

    # The QR form: the first layer stays short, the second layer is one keyboard press away.
    page.goto(qr_url)
    expect(page.get_by_text("Photos at Summer festival")).to_be_visible(timeout=WAIT)
    settle(page)
    _open_notice(page, "form_notice", "en", "notice-form-en")
    _choose_language(page, "form_locale", "Svenska")
    expect(page.get_by_text("Bilder från Summer festival")).to_be_visible(timeout=WAIT)
    _open_notice(page, "form_notice", "sv", "notice-form-sv")

    # The personal page has the same notice, in the language the page shows.
    page.goto(link)
    expect(page.locator(".st-key-my_notice")).to_be_visible(timeout=WAIT)
    settle(page)
    _choose_language(page, "locale", "English")
    expect(page.get_by_text("Your photo consents")).to_be_visible(timeout=WAIT)
    _open_notice(page, "my_notice", "en", "notice-personal-page-en")
    _choose_language(page, "locale", "Svenska")
    expect(page.get_by_text("Dina samtycken för bilder")).to_be_visible(timeout=WAIT)
    _open_notice(page, "my_notice", "sv", "notice-personal-page-sv")
