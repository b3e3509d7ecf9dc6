"""Validation of typed text shared by every form and command, with messages that name the field, not a person."""

from __future__ import annotations

import re
import unicodedata

from portal.backend.platform.errors import ValidationError

NAME_MAX = 200
_EMAIL = re.compile(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+")


def clean_name(name: str | None, *, field_label: str = "Name") -> str:
    """A required one-line name (of a person, an event, a place), NFC-normalised, or ValidationError saying what is wrong."""
    text = unicodedata.normalize("NFC", (name or "")).strip()
    if not text:
        raise ValidationError(f"{field_label} is empty; fill it in.")
    if len(text) > NAME_MAX:
        raise ValidationError(f"{field_label} is {len(text):,} characters long; at most {NAME_MAX} are allowed.")
    if has_control(text):
        raise ValidationError(f"{field_label} contains control or invisible formatting characters; type it plainly.")
    if "<" in text or ">" in text:
        raise ValidationError(f"{field_label} cannot contain < or >.")
    return text


# Zero-width (non-)joiners are formatting characters too, but real names need them: Persian and Indic spellings
# (ZWNJ) and emoji sequences (ZWJ). They cannot reorder or hide text the way bidi overrides can.
_JOINERS = {"\u200c", "\u200d"}


def has_control(text: str) -> bool:
    """True when the text holds control or invisible formatting characters (NUL, escapes, line breaks, bidi
    overrides): PostgreSQL cannot store a NUL, and the others let a value pose as something else on screen."""
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in _JOINERS for ch in text)


def clean_text(text: str | None, *, field_label: str, max_length: int) -> str | None:
    """An optional one-line free-text value, stripped, or ValidationError saying what is wrong."""
    value = (text or "").strip()
    if has_control(value):
        raise ValidationError(f"{field_label} contains control or invisible formatting characters; type it plainly.")
    if len(value) > max_length:
        raise ValidationError(f"{field_label} is {len(value):,} characters long; at most {max_length} are allowed.")
    return value or None


def clean_email(email: str | None) -> str | None:
    """Normalise an optional e-mail address."""
    if email is None or not email.strip():
        return None
    text = email.strip()
    if len(text) > 254 or not _EMAIL.fullmatch(text) or has_control(text):
        raise ValidationError(f"{text[:60]!r} is not an e-mail address.")
    return text.lower()
