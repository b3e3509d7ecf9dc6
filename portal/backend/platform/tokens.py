"""Signed tokens for QR codes and personal links: HMAC-SHA256 over a small JSON payload."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any

from portal.backend.platform.errors import TokenError

_VERSION = "v1"
_MAX_TOKEN_LENGTH = 1024


def _b64(data: bytes) -> str:
    """URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    """Inverse of _b64; raises TokenError on garbage."""
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise TokenError("This link is damaged: it was not copied completely.", reason="damaged") from None


def _key(secret: str, kind: str, extra: str) -> bytes:
    """A key per token kind (and per event QR secret), so one kind can never pass as another."""
    return hmac.new(secret.encode(), f"{_VERSION}|{kind}|{extra}".encode(), hashlib.sha256).digest()


def sign(payload: dict[str, Any], *, secret: str, kind: str, extra: str = "") -> str:
    """Sign `payload` for `kind`; `extra` binds the token to a rotatable secret such as an event's QR secret."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = _b64(hmac.new(_key(secret, kind, extra), body.encode(), hashlib.sha256).digest())
    return f"{_VERSION}.{body}.{mac}"


def peek(token: str) -> dict[str, Any]:
    """Read a token's payload without trusting it (to find which event or link it names)."""
    parts = _split(token)
    try:
        data = json.loads(_unb64(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise TokenError("This link is damaged: it was not copied completely.", reason="damaged") from None
    if not isinstance(data, dict):
        raise TokenError("This link is not valid.")
    return data


def _split(token: str) -> list[str]:
    """Split a token into its three parts, refusing anything malformed."""
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_LENGTH:
        raise TokenError("This link is not valid.")
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[0] != _VERSION:
        raise TokenError("This link is not valid: it was damaged or not made by this portal.")
    return parts


def verify(token: str, *, secret: str, kind: str, now: datetime, extra: str = "") -> dict[str, Any]:
    """Check signature and expiry; returns the payload or raises TokenError with a plain message."""
    parts = _split(token)
    expected = _b64(hmac.new(_key(secret, kind, extra), parts[1].encode(), hashlib.sha256).digest())
    # Compared as UTF-8 bytes: compare_digest raises TypeError for str with non-ASCII characters.
    if not hmac.compare_digest(expected.encode(), parts[2].encode()):
        raise TokenError("This link is not valid: it was changed, is incomplete, or has been replaced by a newer one.")
    data = peek(token)
    exp = data.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or now.timestamp() >= exp):
        raise TokenError("This link has expired. Ask the organisation for a new one.", reason="expired")
    return data
