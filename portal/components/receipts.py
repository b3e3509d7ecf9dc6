"""Download buttons for a consent receipt (PDF and JSON), from its row; a pending receipt is made on the first click."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import streamlit as st

from portal.backend.consent.queries import ReceiptRecord, get_receipt, receipt_file
from portal.backend.consent.services import issue_receipt
from portal.backend.i18n import t
from portal.backend.platform.runtime import Portal


def _file(portal: Portal, receipt_id: str, kind: Literal["pdf", "json"]) -> Callable[[], bytes]:
    """The bytes of one receipt file, fetched (and the receipt rendered, if still pending) only when clicked."""

    def fetch() -> bytes:
        # Runs on Streamlit's download thread, not in the page's run: rendering a pending receipt (WeasyPrint,
        # 0.2-0.5 s) never slows the page, and every click after the first serves the same stored bytes.
        return receipt_file(portal, receipt=issue_receipt(portal, receipt_id=receipt_id), kind=kind)

    return fetch


def receipt_download_buttons(portal: Portal, receipt: ReceiptRecord | str | None, locale: str, *, key: str) -> None:
    """Two side-by-side downloads for one receipt (a row or its id), issued or pending; a note instead when it
    cannot be made yet."""
    if isinstance(receipt, str):
        receipt = get_receipt(portal, receipt_id=receipt)
    if receipt is None:
        return
    if receipt.state == "failed":
        # The consent is recorded either way; the receipt follows once the cause (e.g. a missing organisation
        # detail, which staff see with the reason) is fixed and the daily jobs run.
        st.info(t("receipts.not_ready", locale))
        return
    left, right = st.columns(2)
    left.download_button(
        t("receipts.pdf", locale),
        data=_file(portal, receipt.id, "pdf"),
        file_name=f"{receipt.id}.pdf",
        mime="application/pdf",
        key=f"pdf_{key}",
        width="stretch",
    )
    right.download_button(
        t("receipts.json", locale),
        data=_file(portal, receipt.id, "json"),
        file_name=f"{receipt.id}.json",
        mime="application/json",
        key=f"json_{key}",
        width="stretch",
    )
