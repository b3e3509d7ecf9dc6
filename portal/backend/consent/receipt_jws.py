"""Signing consent receipts: a detached JWS (RFC 7515 App. F) with EdDSA over Ed25519 (RFC 8037).

The signed payload is the receipt without its `x-portal-jws` member, in canonical JSON (RFC 8785: members sorted,
no insignificant whitespace, UTF-8; receipts hold only strings, integers, booleans and null, for which Python's
`json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes exactly that form). The JWS is stored
in the receipt with an empty payload part (`header..signature`); a verifier rebuilds the payload from the receipt.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from portal.backend.platform.signing import SigningKey, VerifyKey

JWS_FIELD = "x-portal-jws"
ALGORITHM = "EdDSA"
CONTENT_TYPE = "kantara-cr+json"


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of `b64url`; ValueError on anything that is not base64url."""
    if not text or any(c not in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" for c in text):
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not base64url") from None


def canonical_payload(receipt: Mapping[str, Any]) -> bytes:
    """The bytes the signature covers: the receipt without its JWS, canonical JSON."""
    body = {k: v for k, v in receipt.items() if k != JWS_FIELD}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def public_key_pem(key: VerifyKey) -> str:
    """The Kantara `publicKey` value: the Ed25519 public key as PEM (SubjectPublicKeyInfo)."""
    return key.pem().decode("ascii")


def sign_receipt(receipt: Mapping[str, Any], key: SigningKey) -> str:
    """The detached compact JWS of `receipt` (`header..signature`)."""
    header = {"alg": ALGORITHM, "kid": key.key_id, "cty": CONTENT_TYPE}
    protected = b64url(json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii"))
    signing_input = f"{protected}.{b64url(canonical_payload(receipt))}".encode("ascii")
    return f"{protected}..{b64url(key.private.sign(signing_input))}"


def receipt_public_key(receipt: Mapping[str, Any]) -> VerifyKey:
    """The Ed25519 key in the receipt's `publicKey`; ValueError when there is none or it is not one."""
    text = receipt.get("publicKey")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the receipt has no publicKey")
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError):
        raise ValueError("the receipt's publicKey is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("the receipt's publicKey is not an Ed25519 key")
    return VerifyKey(key)


def signature_problem(receipt: Mapping[str, Any], key: VerifyKey) -> str | None:
    """Why the receipt's JWS is not `key`'s valid signature of it, or None when it is."""
    jws = receipt.get(JWS_FIELD)
    if not isinstance(jws, str) or jws.count(".") != 2:
        return f"the receipt carries no detached JWS in {JWS_FIELD}"
    protected, payload, signature = jws.split(".")
    if payload:
        return "the JWS is not detached (its payload part must be empty)"
    try:
        header = json.loads(b64url_decode(protected))
        raw_signature = b64url_decode(signature)
    except ValueError:
        return "the JWS is malformed"
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
        return f"the JWS algorithm must be {ALGORITHM}"
    if header.get("kid") != key.key_id:
        return f"the JWS names key {header.get('kid')}, not {key.key_id}"
    signing_input = f"{protected}.{b64url(canonical_payload(receipt))}".encode("ascii")
    try:
        key.public.verify(raw_signature, signing_input)
    except InvalidSignature:
        return "the signature does not match the receipt: it was changed after it was signed"
    return None
