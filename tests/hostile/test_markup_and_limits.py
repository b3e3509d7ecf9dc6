"""Hostile Markdown in names, a NUL in the sign-in e-mail, oversized uploads and selfies: each is shown as inert text,
refused with a clear message, or refused before it costs memory."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib

import pytest
from PIL import Image
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from portal.backend.people.paper import MAX_SCAN_BYTES
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import subjects
from portal.components.text import plain
from tests.conftest import APP, ROOT
from tests.factories import make_subject
from tests.seeded import SeededPortal
from tests.test_plain_text import HOSTILE, HOSTILE_MORE, live_markup

CONFIG = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


@pytest.mark.parametrize("typed", [HOSTILE, HOSTILE_MORE])
def test_a_markdown_name_is_stored_as_typed_and_rendered_inert(org_db: Database, typed: str) -> None:
    # Markdown is not refused (a name may contain brackets or an asterisk); it is only ever shown as text.
    subject_id = make_subject(org_db, name=typed)
    with org_db.read() as conn:
        stored = conn.execute(select(subjects.c.display_name).where(subjects.c.id == subject_id)).scalar_one()
    assert stored == typed
    assert live_markup(typed) and not live_markup(plain(stored))


def test_a_nul_in_the_sign_in_email_is_refused_without_sql(seeded_portal: SeededPortal) -> None:
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.text_input[0].input("admin\x00@demo.example")
    at.text_input[1].input("demo-admin-pass")
    at.button[0].click().run()
    assert not at.exception
    shown = " ".join(e.value for e in at.error)
    assert "control character" in shown
    for internal in ("password_hash", "SELECT", "staff_users", "psycopg", "sqlite", "Traceback"):
        assert internal not in shown
    assert [t.value for t in at.title] == ["Staff sign-in"]


def test_error_details_and_table_exports_are_off() -> None:
    # Streamlit would otherwise show any visitor the exception: SQL, parameters, file paths.
    assert CONFIG["client"]["showErrorDetails"] == "none"
    # The built-in CSV download of st.dataframe bypasses formula neutralisation and the audit log.
    assert CONFIG["client"]["disableDataExport"] is True


def test_upload_limit_is_near_the_largest_real_file() -> None:
    # Streamlit's default is 200 MB from any session, the sign-in page included.
    limit = CONFIG["server"]["maxUploadSize"]
    assert 35 <= limit <= 50, "a 60-megapixel camera JPEG (about 30-40 MB) must still fit"
    assert MAX_SCAN_BYTES >> 20 <= limit
    assert CONFIG["server"]["maxMessageSize"] <= 50


def _selfie_cost(data: bytes, tmp_path: object, call: str) -> dict[str, object]:
    """`call` on `data` in a fresh interpreter: the outcome, the seconds, and the peak memory growth in MB."""
    path = f"{tmp_path}/selfie.bin"
    with open(path, "wb") as out:
        out.write(data)
    script = f"""
import json, resource, time
from PIL import Image
from portal.backend.photos.biometrics import check_selfie
from portal.backend.photos.vision.faces import FaceAnalyzer
from portal.backend.photos.vision.intake import prepare_selfie
from portal.backend.platform.errors import ValidationError
Image.init()
data = open({path!r}, "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    outcome = {call}
except ValidationError as exc:
    outcome = str(exc)
seconds = time.perf_counter() - start
grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
print(json.dumps({{"outcome": outcome, "seconds": seconds, "mb": grown}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _encoded(size: tuple[int, int], fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (196, 170, 150)).save(out, fmt)
    return out.getvalue()


@pytest.mark.slow
def test_a_huge_png_selfie_is_refused_from_its_header(tmp_path: object) -> None:
    # The finding: a 71 KB, 7,740x7,740 PNG cost 4.8 s and 370 MB as a selfie (it is under the photo limit).
    data = _encoded((7740, 7740), "PNG")
    assert len(data) < 400_000
    # The service path of the consent form, with the photo limit as the portal passes it.
    cost = _selfie_cost(data, tmp_path, "check_selfie(data, analyzer=FaceAnalyzer(), max_pixels=60_000_000)")
    assert "7740×7740 pixels" in str(cost["outcome"]) and "at most 16 megapixels" in str(cost["outcome"])
    assert float(cost["mb"]) < 30  # type: ignore[arg-type]
    assert float(cost["seconds"]) < 1.0  # type: ignore[arg-type]


@pytest.mark.slow
def test_a_large_jpeg_selfie_is_decoded_reduced(tmp_path: object) -> None:
    # 48 megapixels: 144 MB as full RGB; decoded at 1/2 or 1/4 scale by the JPEG decoder itself.
    cost = _selfie_cost(_encoded((8000, 6000), "JPEG"), tmp_path, "list(prepare_selfie(data).size)")
    assert cost["outcome"] == [2048, 1536]
    assert float(cost["mb"]) < 60  # type: ignore[arg-type]
