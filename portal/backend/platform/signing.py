"""The ledger's Ed25519 signing key, held outside the database: loading, first-start generation, and verifying."""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Connection, Engine

from portal.backend.platform.config import Settings
from portal.backend.platform.errors import ConfigError

KEY_FILE = "ledger-signing-key.pem"
PUBLIC_KEY_FILE = "ledger-signing-key.pub.pem"
_ENV_KEY = "PORTAL_LEDGER_KEY"


class LedgerKeyMissing(ConfigError):
    """No signing key is loaded for a database that is about to append to the ledger."""


@dataclass(frozen=True)
class VerifyKey:
    """A public key that checks signed heads; `key_id` names it in every signed head."""

    public: Ed25519PublicKey

    @property
    def raw(self) -> bytes:
        """The 32 raw public-key bytes."""
        return self.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        """First 16 hex digits of the SHA-256 of the raw public key."""
        return hashlib.sha256(self.raw).hexdigest()[:16]

    def verify(self, signature_b64: str, message: bytes) -> bool:
        """True when `signature_b64` is this key's signature of `message`."""
        try:
            self.public.verify(base64.b64decode(signature_b64, validate=True), message)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True

    def pem(self) -> bytes:
        """The public key as PEM (SubjectPublicKeyInfo), for a verifier that must not hold the private key."""
        return self.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass(frozen=True)
class SigningKey:
    """The private key that signs every new ledger head."""

    private: Ed25519PrivateKey

    @property
    def verify_key(self) -> VerifyKey:
        """The matching public key."""
        return VerifyKey(self.private.public_key())

    @property
    def key_id(self) -> str:
        """The id of the matching public key."""
        return self.verify_key.key_id

    def sign(self, message: bytes) -> str:
        """The signature of `message`, base64."""
        return base64.b64encode(self.private.sign(message)).decode("ascii")

    def __repr__(self) -> str:
        # Never the key material: a logged object shows which key, not the key.
        return f"SigningKey(key_id={self.key_id!r})"


def _private_from_text(value: str, source: str) -> Ed25519PrivateKey:
    """A private key from PEM text or the base64 of its 32 raw bytes."""
    text = value.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = base64.b64decode(text, validate=True)
            if len(raw) != 32:
                raise ValueError("not 32 bytes")
            key = Ed25519PrivateKey.from_private_bytes(raw)
    except (ValueError, TypeError, binascii.Error):
        raise ConfigError(
            f"{source} is not an Ed25519 private key: give a PEM file's path, PEM text, or the base64 of the "
            "32 raw key bytes (`openssl genpkey -algorithm ed25519 -out ledger.pem` makes one)."
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{source} holds a private key of another kind; the ledger needs an Ed25519 key.")
    return key


def _public_from_text(value: str, source: str) -> Ed25519PublicKey:
    """A public key from PEM text or the base64 of its 32 raw bytes."""
    text = value.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            raw = base64.b64decode(text, validate=True)
            if len(raw) != 32:
                raise ValueError("not 32 bytes")
            key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, binascii.Error):
        raise ConfigError(
            f"{source} is not an Ed25519 public key: give a PEM file's path, PEM text, or the base64 of the "
            "32 raw key bytes."
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{source} holds a public key of another kind; the ledger needs an Ed25519 key.")
    return key


def _is_raw_key(text: str) -> bool:
    """True for the base64 of 32 raw key bytes (a key given inline, not a path)."""
    try:
        return len(base64.b64decode(text, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def _read_setting(value: str, source: str, *, private: bool = True) -> str:
    """The key itself (PEM text or base64), or the contents of the file the setting names."""
    text = value.strip()
    if text.startswith("-----BEGIN") or _is_raw_key(text):
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        raise ConfigError(f"{source} is neither a key nor the path of a key file ({path} is not a file).")
    if private:
        _check_private_file(path, source)
    return path.read_text(encoding="ascii", errors="replace")


def _check_private_file(path: Path, source: str) -> None:
    """Refuse a key file that other users of the machine can read (on systems with Unix permissions)."""
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise ConfigError(
            f"{source}: {path} can be read by other users of this machine; run `chmod 600 {path}` "
            "(whoever reads it can sign a rewritten ledger)."
        )


def _generate(path: Path) -> Ed25519PrivateKey:
    """Create the key file with 0600 permissions; if another process won the race, read its key instead."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    try:
        # O_EXCL: two first starts at once must not end with two different keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _private_from_text(path.read_text(encoding="ascii"), str(path))
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    # The public half beside it, readable: hand it to auditors for `ledger verify` without the private key.
    public = VerifyKey(key.public_key()).pem()
    path.with_name(PUBLIC_KEY_FILE).write_bytes(public)
    return key


def load_signing_key(settings: Settings, *, create: bool = True) -> SigningKey:
    """The key from PORTAL_LEDGER_KEY; in development without it, the data folder's key (made on first start)."""
    if settings.ledger_key.strip():
        text = _read_setting(settings.ledger_key, _ENV_KEY)
        return SigningKey(_private_from_text(text, _ENV_KEY))
    if settings.is_production:
        raise ConfigError(
            "PORTAL_LEDGER_KEY is missing: production needs the ledger's Ed25519 signing key held outside the "
            "database (a PEM file's path or the base64 key; `openssl genpkey -algorithm ed25519 -out ledger.pem` makes one). "
            "Keep a copy offline: without it nobody can sign new ledger heads."
        )
    path = Path(settings.data_dir) / KEY_FILE
    if path.is_file():
        _check_private_file(path, str(path))
        return SigningKey(_private_from_text(path.read_text(encoding="ascii"), str(path)))
    if not create:
        raise LedgerKeyMissing(f"No ledger signing key: PORTAL_LEDGER_KEY is unset and {path} does not exist.")
    return SigningKey(_generate(path))


def load_verify_key(settings: Settings) -> VerifyKey:
    """The key that checks signatures: PORTAL_LEDGER_PUBLIC_KEY, else the public half of the signing key."""
    if settings.ledger_public_key.strip():
        value = _read_setting(settings.ledger_public_key, "PORTAL_LEDGER_PUBLIC_KEY", private=False)
        return VerifyKey(_public_from_text(value, "PORTAL_LEDGER_PUBLIC_KEY"))
    try:
        return load_signing_key(settings, create=False).verify_key
    except LedgerKeyMissing:
        raise LedgerKeyMissing(
            "No key to check the ledger's signatures with: set PORTAL_LEDGER_PUBLIC_KEY (the public key, PEM file "
            "or base64) or PORTAL_LEDGER_KEY, or run where the portal's data folder holds its key."
        ) from None


def new_key_text() -> str:
    """A fresh private key as base64 of its 32 raw bytes (for PORTAL_LEDGER_KEY)."""
    raw = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return base64.b64encode(raw).decode("ascii")


# Which key signs the heads of which database: attached by the bootstrap when it opens the portal. The ledger's
# append receives only a connection, and every service would otherwise have to thread the key through.
_ATTACHED: weakref.WeakKeyDictionary[Engine, SigningKey | Callable[[], SigningKey]] = weakref.WeakKeyDictionary()
_FROM_ENV: dict[str, SigningKey] = {}


def attach(engine: Engine, key: SigningKey | Callable[[], SigningKey]) -> None:
    """Sign every ledger append made through `engine` with `key` (or the key `key()` loads at the first append)."""
    _ATTACHED[engine] = key


def signing_key_for(conn: Connection) -> SigningKey:
    """The key attached to this connection's engine, else one from PORTAL_LEDGER_KEY in the environment."""
    key = _ATTACHED.get(conn.engine)
    if callable(key):
        # Loaded (and in development made) only when something is appended: a read-only command leaves no key.
        key = _ATTACHED[conn.engine] = key()
    if key is not None:
        return key
    # A process that opened the database without the bootstrap (tests, bench scripts, a worker) may still sign
    # with the key the operator set; it never invents one, so no head is ever signed by a throwaway key.
    value = os.environ.get(_ENV_KEY, "").strip()
    if value:
        if value not in _FROM_ENV:
            _FROM_ENV.clear()
            _FROM_ENV[value] = SigningKey(_private_from_text(_read_setting(value, _ENV_KEY), _ENV_KEY))
        return _FROM_ENV[value]
    raise LedgerKeyMissing(
        "The ledger signing key is not loaded for this database, so nothing can be appended: open the portal "
        "through its start-up (ops.bootstrap) or set PORTAL_LEDGER_KEY."
    )


def verify_key_for(conn: Connection) -> VerifyKey | None:
    """The public half of a key already loaded for this engine (or from the environment); never makes one."""
    if callable(_ATTACHED.get(conn.engine)):
        value = os.environ.get(_ENV_KEY, "").strip()
        return SigningKey(_private_from_text(_read_setting(value, _ENV_KEY), _ENV_KEY)).verify_key if value else None
    try:
        return signing_key_for(conn).verify_key
    except LedgerKeyMissing:
        return None
