"""How a child's guardian was verified (GDPR Art. 8(2), R15): one of a fixed set of methods, never free text.

The stored `subjects.guardian_verification` and the sealed ledger evidence hold the code; pages show its label.
"""

from __future__ import annotations

from portal.backend.i18n import t
from portal.backend.platform.errors import ValidationError

# Every method, strongest first. The first three are checked by staff; the last two are the guardian's own word.
METHODS = (
    "staff_checked_id",
    "guardian_present",
    "signed_paper_form",
    "declared_on_form",
    "declared_on_personal_link",
)
# What staff may record for an entry they make (a paper form, a kiosk on their tablet, the CLI): their own check.
STAFF_METHODS = ("staff_checked_id", "guardian_present", "signed_paper_form")
# The kiosk: the guardian is at the tablet in front of the staff member, with no paper form.
KIOSK_METHODS = ("staff_checked_id", "guardian_present")
# Recorded by the portal itself, never chosen by staff.
FORM_METHOD = "declared_on_form"
LINK_METHOD = "declared_on_personal_link"


def check_method(method: str | None) -> str:
    """The method code, or ValidationError listing the accepted codes."""
    if method not in METHODS:
        shown = "(none)" if not method else repr(str(method)[:60])
        raise ValidationError(f"Unknown guardian verification {shown}: use one of {', '.join(METHODS)}.")
    return method


def method_label(method: str | None, locale: str = "en") -> str:
    """The plain-language label of a method; text stored before methods were enumerated is shown as it is."""
    if method in METHODS:
        return t(f"guardian.method.{method}", locale)
    return method or ""
