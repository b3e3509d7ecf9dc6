"""Compliance report and Art. 30 record: real PDFs, text checked with pdftotext, pages rendered with pdftoppm."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from portal.backend.consent.records import Decision
from portal.backend.photos.services import publish_photo
from portal.backend.platform.db.engine import Database
from portal.backend.reports.compliance import compliance_report_pdf, record_of_processing_pdf
from tests.factories import STAFF, make_subject, record_consent
from tests.test_risk import OPERATOR, _asset, portal_of


def _text_and_page(pdf: bytes, tmp_path: Path, name: str) -> tuple[str, np.ndarray]:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(path), str(tmp_path / name)], check=True)
    page = np.asarray(Image.open(next(tmp_path.glob(f"{name}*.png"))).convert("L"))
    return text, page


def test_compliance_report_lists_the_critical_photo(org_db: Database, tmp_path: Path) -> None:
    sid = make_subject(org_db, name="Withdrawer", choices={"website": True})
    asset = _asset(org_db, 1, [(sid, 0.1)])
    publish_photo(
        portal_of(org_db), actor=OPERATOR, asset_id=asset, purpose="website", where="https://example.org/about-us"
    )
    record_consent(org_db, subject_id=sid, decisions=[Decision("website", "withdrawn")], context=STAFF)
    text, page = _text_and_page(compliance_report_pdf(org_db), tmp_path, "compliance")
    assert "Photo consent compliance report" in text
    assert "example.org" in text  # the place it is published (the URL may wrap across lines)
    assert "withdrawn" in text and "Intact: 2 entries verified." in text
    assert (page < 128).mean() > 0.01  # the page has real content, not a blank sheet


def test_record_of_processing_covers_every_purpose(org_db: Database, tmp_path: Path) -> None:
    text, page = _text_and_page(record_of_processing_pdf(org_db), tmp_path, "art30")
    for needle in (
        "Record of processing activities",
        "Nordlys Events AB",
        "Karin Berg",
        "Internal use",
        "Our website",
        "Social media",
        "Printed material",
        "Sharing with partners",
        "Explicit consent, Art. 9(2)(a)",
        "LinkedIn Ireland Unlimited Company",
        "Time limits for erasure",
    ):
        assert needle in text, needle
    assert (page < 128).mean() > 0.01
