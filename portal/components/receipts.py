"""Download buttons for a stored receipt (PDF and JSON)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from portal.backend.i18n import t
from portal.backend.platform.blobs import BlobStore


def receipt_download_buttons(blobs: BlobStore, keys: tuple[str, str] | None, locale: str, *, key: str) -> None:
    """Two side-by-side downloads for one receipt; nothing when there is none."""
    if not keys:
        return
    json_key, pdf_key = keys
    left, right = st.columns(2)
    left.download_button(
        t("receipts.pdf", locale),
        data=blobs.get(pdf_key),
        file_name=Path(pdf_key).name,
        mime="application/pdf",
        key=f"pdf_{key}",
        width="stretch",
    )
    right.download_button(
        t("receipts.json", locale),
        data=blobs.get(json_key),
        file_name=Path(json_key).name,
        mime="application/json",
        key=f"json_{key}",
        width="stretch",
    )
