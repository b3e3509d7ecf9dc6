"""Managers: the outbox, what e-mail was sent, is waiting or failed (never a message body or a personal link)."""

from __future__ import annotations

import streamlit as st

from portal.backend.ops.queries import KIND_LABELS, OUTBOX_STATUSES, outbox_overview
from portal.backend.ops.services import retry_failed_mail
from portal.backend.platform.errors import PortalError
from portal.components.context import get_portal, require_role
from portal.components.text import plain

portal = get_portal()
user = require_role("manager")
actor = user.as_actor()
st.title("Outbox")
if (again := st.session_state.pop("outbox_retried", None)) is not None:
    st.success(f"{again} failed e-mail(s) queued again.")

overview = outbox_overview(portal, limit=500)
if overview.mail_configured:
    st.caption(
        "E-mail is sent over SMTP by `python -m portal outbox send` (also at the end of `jobs run`): a failed try is "
        "repeated later, up to five times, then the e-mail is marked failed with the reason. Once sent, only its "
        "subject line is kept, not its text or personal link."
    )
else:
    st.warning(
        "E-mail is not configured (PORTAL_SMTP_HOST and the other PORTAL_SMTP_* settings are empty): nothing is "
        "sent. E-mails wait here until an admin sets them; the kiosk does not promise an e-mail meanwhile, and the "
        "form tells people to keep their link."
    )

columns = st.columns(4)
for column, status in zip(columns, ("pending", "sent", "failed", "cancelled"), strict=True):
    column.metric(status.capitalize(), overview.counts.get(status, 0))

if overview.counts.get("failed"):
    if st.button(f"Send the {overview.counts['failed']} failed e-mail(s) again", key="outbox_retry"):
        try:
            st.session_state["outbox_retried"] = retry_failed_mail(portal, actor=actor)
        except PortalError as exc:
            st.error(plain(exc))
        else:
            st.rerun()

status = st.selectbox("Status", ["all", *OUTBOX_STATUSES], key="outbox_status")
rows = [m for m in overview.messages if status == "all" or m.status == status]
if not rows:
    st.info("Nothing in the outbox." if status == "all" else f"No message is {status}.")
    st.stop()
# A dataframe shows its cells as text (no Markdown), so recipients and errors need no escaping.
st.dataframe(
    [
        {
            "id": m.id,
            "kind": KIND_LABELS.get(m.kind, m.kind),
            "recipient": m.recipient or "-",
            "subject": m.subject_line or "",
            "status": m.status if m.is_mail else f"{m.status} (staff task, not sent)",
            "tries": m.attempts,
            "created": m.created_at,
            "sent": m.sent_at,
            "next try": m.next_attempt_at,
            "error": m.last_error or "",
        }
        for m in rows
    ],
    hide_index=True,
    width="stretch",
)
