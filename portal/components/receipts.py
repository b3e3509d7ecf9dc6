"""Download buttons for a consent receipt (PDF and JSON), from its row."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from portal.backend.consent.queries import ReceiptRecord, get_receipt, receipt_file
from portal.backend.i18n import t
from portal.backend.platform.runtime import Portal
from portal.components.text import plain


def receipt_download_buttons(portal: Portal, receipt: ReceiptRecord | str | None, locale: str, *, key: str) -> None:
    """Two side-by-side downloads for one receipt (a row or its id); why not, when its files are not stored."""
    if isinstance(receipt, str):
        receipt = get_receipt(portal, receipt_id=receipt)
    if receipt is None:
        return
    if not receipt.issued:
        # The consent is recorded either way; the receipt follows once the cause (e.g. a missing organisation
        # detail) is fixed and the daily jobs run.
        if receipt.error:
            st.warning(plain(receipt.error))
        return
    assert receipt.pdf_key and receipt.json_key
    left, right = st.columns(2)
    left.download_button(
        t("receipts.pdf", locale),
        data=receipt_file(portal, receipt=receipt, kind="pdf"),
        file_name=Path(receipt.pdf_key).name,
        mime="application/pdf",
        key=f"pdf_{key}",
        width="stretch",
    )
    right.download_button(
        t("receipts.json", locale),
        data=receipt_file(portal, receipt=receipt, kind="json"),
        file_name=Path(receipt.json_key).name,
        mime="application/json",
        key=f"json_{key}",
        width="stretch",
    )
