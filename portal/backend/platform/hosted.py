"""Supabase as the hosted backend: Storage as a BlobStore and Auth sign-in, through supabase-py.

Every failure leaves this module as one of the portal's own errors, worded for a person, never carrying a key.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError as PydanticValidationError
from storage3.exceptions import StorageApiError
from supabase import Client, create_client
from supabase.lib.client_options import SyncClientOptions
from supabase_auth.errors import AuthApiError, AuthRetryableError
from supabase_auth.errors import AuthError as SupabaseAuthError

from portal.backend.platform.blobs import check_key
from portal.backend.platform.config import SETTINGS, Settings
from portal.backend.platform.errors import (
    AuthError,
    ConfigError,
    NotFound,
    PortalError,
    ServiceUnavailable,
    SessionExpired,
    StorageError,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

_NAMES = {s.name: s.names for s in SETTINGS}
# Storage lists a folder a page at a time; 1000 is the API's largest page.
LIST_PAGE = 1000
# Browsers and Supabase's CDN may keep an image this long; short, so an erased photo disappears soon.
CACHE_SECONDS = "60"
# Supabase's dashboard drops this marker into folders it creates; it is not a blob.
FOLDER_MARKER = ".emptyFolderPlaceholder"
GENERIC_SIGN_IN_ERROR = "E-mail or password is wrong, or the account is disabled."


def http_client() -> httpx.Client:
    """The HTTP client behind every Supabase call: bounded waits, so an unreachable project fails in seconds."""
    return httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0), follow_redirects=True)


def make_client(url: str, key: str, http: httpx.Client) -> Client:
    """A supabase-py client that keeps no session of its own (the portal keeps sessions per browser)."""
    options = SyncClientOptions(auto_refresh_token=False, persist_session=False, httpx_client=http)
    try:
        return create_client(url, key, options)
    except Exception as exc:  # supabase-py raises a bare SupabaseException for a malformed URL or key
        raise ConfigError(f"Cannot use the Supabase project at {url}: {redact(str(exc), key)}.") from None


def redact(text: str, *secrets: str) -> str:
    """`text` with every secret replaced, for messages built from what a server or library said."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _unreachable(service: str, url: str, exc: httpx.HTTPError, secrets: tuple[str, ...]) -> ServiceUnavailable:
    """A transport failure (no connection, timeout, connection dropped mid-transfer) in the portal's words."""
    if isinstance(exc, httpx.TimeoutException):
        why = "it did not answer in time"
    elif isinstance(exc, httpx.ConnectError):
        why = f"no connection ({redact(str(exc), *secrets) or type(exc).__name__})"
    else:
        why = f"the connection broke off ({redact(str(exc), *secrets) or type(exc).__name__})"
    return ServiceUnavailable(
        f"Cannot reach Supabase {service} at {url}: {why}. Check SUPABASE_URL and the network, then try again."
    )


class SupabaseBlobStore:
    """Blobs as objects in one private Supabase Storage bucket (the BlobStore contract, plus signed URLs)."""

    def __init__(self, url: str, service_key: str, bucket: str, *, http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.bucket = bucket
        self._key = service_key
        self._http = http or http_client()
        self._client = make_client(self.url, service_key, self._http)
        self._files = self._client.storage.from_(bucket)

    @classmethod
    def from_settings(cls, settings: Settings, *, check: bool = True) -> SupabaseBlobStore:
        """The store the settings describe; by default it first proves the bucket is there and private."""
        store = cls(settings.supabase_url, settings.supabase_service_key, settings.supabase_bucket)
        if check:
            store.check_bucket()
        return store

    def _call(self, action: str, key: str | None, fn: Callable[[], T]) -> T:
        """Run one supabase-py call, translating its failures."""
        try:
            return fn()
        except StorageApiError as exc:
            raise self._translate(exc, action, key) from None
        except httpx.HTTPError as exc:
            raise _unreachable("Storage", self.url, exc, (self._key,)) from None
        except PydanticValidationError:
            raise StorageError(
                f"Supabase Storage at {self.url} gave an answer the portal does not understand while trying to "
                f"{action}; is SUPABASE_URL the project's API URL?"
            ) from None

    def _translate(self, exc: StorageApiError, action: str, key: str | None) -> PortalError:
        """Storage's error body (statusCode / error / message) to a portal error."""
        status, code = str(exc.status), str(exc.code or "")
        message = redact(str(exc.message), self._key)
        said = f"{code} {message}".lower()
        what = f"{action} {key!r}" if key else action
        if "bucket not found" in said or code == "NoSuchBucket":
            return ConfigError(
                f"Supabase Storage has no bucket {self.bucket!r} at {self.url} (or the key cannot see it: with the "
                f"anon key private buckets are invisible). Create it as a private bucket with `python -m portal "
                f"storage init`, or set PORTAL_SUPABASE_BUCKET; check {_NAMES['supabase_service_key']}."
            )
        if status == "404" and key is None:
            return ConfigError(
                f"{self.url} answered 404 to a Storage request: is {_NAMES['supabase_url']} the project's API URL "
                "(https://<ref>.supabase.co, without a path)?"
            )
        # Storage has said "missing object" as error `not_found` and as code `NoSuchKey`, with HTTP 400 or 404.
        if code in ("not_found", "NoSuchKey") or status == "404":
            return NotFound(f"No stored file {key!r}.")
        if (
            status in ("401", "403")
            or code in ("InvalidJWT", "Unauthorized", "AccessDenied")
            or any(word in said for word in ("jwt", "api key", "signature", "row-level security"))
        ):
            return ConfigError(
                f"Supabase Storage refused the portal's key while trying to {what} ({message}). "
                f"{_NAMES['supabase_service_key']} must be the service_role (secret) key of the project at {self.url}."
            )
        if status == "413" or code == "EntityTooLarge":
            return StorageError(
                f"Supabase Storage refused {key!r}: {message}. The project's upload size limit is below this file "
                "(the free plan allows 50 MB per file; raise it under Storage settings on a paid plan)."
            )
        if status.startswith("5") or status in ("429", "0"):
            return ServiceUnavailable(
                f"Supabase Storage could not {what} just now ({message}, HTTP {status}); try again."
            )
        return StorageError(f"Supabase Storage refused to {what}: {message} (HTTP {status}).")

    def check_bucket(self) -> None:
        """Raise ConfigError unless the bucket exists and is private (consent photos never get public URLs)."""
        bucket = self._call("open the bucket", None, lambda: self._client.storage.get_bucket(self.bucket))
        if bucket.public:
            raise ConfigError(
                f"The Supabase Storage bucket {self.bucket!r} is public: anyone could fetch photos of people by URL. "
                "Make it private (Storage, bucket settings) and start again."
            )

    def create_bucket(self) -> bool:
        """Create the bucket as private; False when it already existed (then it is only checked)."""
        try:
            self.check_bucket()
            return False
        except ConfigError as exc:
            if "has no bucket" not in str(exc):
                raise
        self._call(
            "create the bucket",
            None,
            lambda: self._client.storage.create_bucket(self.bucket, options={"public": False}),
        )
        return True

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Upload with its content type, replacing what was there (x-upsert); Storage stores it whole or not at all."""
        check_key(key)
        options: Any = {"content-type": content_type, "upsert": "true", "cache-control": CACHE_SECONDS}
        self._call("upload", key, lambda: self._files.upload(key, data, options))

    def get(self, key: str) -> bytes:
        """Download a blob."""
        check_key(key)
        return self._call("download", key, lambda: self._files.download(key))

    def delete(self, key: str) -> None:
        """Delete a blob; Storage answers a missing key with an empty list, which is fine."""
        check_key(key)
        self._call("delete", key, lambda: self._files.remove([key]))

    def exists(self, key: str) -> bool:
        """True when the blob is stored (its info is found); other failures (key, bucket, network) raise."""
        check_key(key)
        try:
            self._call("look up", key, lambda: self._files.info(key))
        except NotFound:
            return False
        return True

    def list_keys(self, prefix: str) -> list[str]:
        """Stored keys under a prefix; Storage lists one folder level at a time, so folders are walked."""
        check_key(prefix.rstrip("/") or "x")
        folder, _, start = prefix.rpartition("/")
        found: list[str] = []
        self._walk(folder, start, found)
        return sorted(found)

    def _walk(self, folder: str, start: str, found: list[str]) -> None:
        """Collect the objects in `folder` (and below) whose names start with `start`."""
        offset = 0
        while True:
            options: Any = {"limit": LIST_PAGE, "offset": offset}
            if start:
                options["search"] = start  # a prefix filter on the server; re-checked exactly below
            page = self._call("list", folder or "/", functools.partial(self._files.list, folder, options))
            for entry in page:
                name = entry.get("name") or ""
                if not name.startswith(start) or name == FOLDER_MARKER:
                    continue
                path = f"{folder}/{name}" if folder else name
                if entry.get("id") is None:  # folders have no object id
                    self._walk(path, "", found)
                else:
                    found.append(path)
            if len(page) < LIST_PAGE:
                return
            offset += LIST_PAGE

    def signed_url(self, key: str, *, seconds: int) -> str | None:
        """A URL that shows the blob to whoever holds it for `seconds`, without the portal's key."""
        check_key(key)
        signed = self._call("sign a URL for", key, lambda: self._files.create_signed_url(key, seconds))
        return signed["signedURL"]


@dataclass(frozen=True)
class AuthTokens:
    """What Supabase Auth hands back on sign-in or refresh; the tokens stay on the server."""

    email: str
    expires_at: datetime
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)


class SupabaseAuth:
    """E-mail and password sign-in, token refresh and sign-out against Supabase Auth (GoTrue) with the anon key."""

    def __init__(self, url: str, anon_key: str, *, http: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self._key = anon_key
        self._http = http or http_client()

    def _auth(self) -> Any:
        """A fresh auth client per call: supabase-py keeps one session per client, and each browser has its own."""
        return make_client(self.url, self._key, self._http).auth

    def _call(self, action: str, fn: Callable[[], T], *, refreshing: bool = False) -> T:
        """Run one Auth call, translating its failures."""
        try:
            return fn()
        except AuthRetryableError as exc:  # no connection, timeout or a 5xx: supabase_auth wraps them all here
            if exc.status == 0:
                raise ServiceUnavailable(
                    f"Cannot reach Supabase Auth at {self.url} to {action} ({redact(exc.message, self._key)}). "
                    "Check SUPABASE_URL and the network, then try again."
                ) from None
            raise ServiceUnavailable(
                f"Supabase Auth could not {action} just now (HTTP {exc.status}); try again."
            ) from None
        except AuthApiError as exc:
            raise self._translate(exc, action, refreshing=refreshing) from None
        except httpx.HTTPError as exc:
            raise _unreachable("Auth", self.url, exc, (self._key,)) from None
        except SupabaseAuthError as exc:
            raise AuthError(f"Supabase Auth could not {action}: {redact(exc.message, self._key)}.") from None

    def _translate(self, exc: AuthApiError, action: str, *, refreshing: bool) -> PortalError:
        """GoTrue's error (HTTP status and error code) to a portal error."""
        code, status = exc.code or "", exc.status
        message = redact(exc.message, self._key)
        if (status in (401, 403) and not code) or "api key" in message.lower():
            return ConfigError(
                f"Supabase Auth at {self.url} refused the portal's key ({message}). "
                f"{_NAMES['supabase_anon_key']} must be the project's anon (publishable) key."
            )
        if refreshing:
            return SessionExpired("Your session has ended in Supabase Auth; please sign in again.")
        if code == "email_not_confirmed":
            return AuthError(
                "This e-mail address is not confirmed in Supabase yet: open the confirmation e-mail first."
            )
        if code in ("over_request_rate_limit", "over_email_send_rate_limit") or status == 429:
            return AuthError("Too many sign-in attempts; wait a minute and try again.")
        if status >= 500:
            return ServiceUnavailable(f"Supabase Auth could not {action} just now (HTTP {status}); try again.")
        # Wrong password, unknown address, banned user: one message, so accounts cannot be probed.
        return AuthError(GENERIC_SIGN_IN_ERROR)

    @staticmethod
    def _tokens(response: Any) -> AuthTokens:
        """The AuthResponse's session as AuthTokens."""
        session = response.session
        if session is None or session.user is None or not session.user.email:
            raise AuthError("Supabase Auth signed no session in (is e-mail sign-in enabled for the project?).")
        expires = session.expires_at or 0
        return AuthTokens(
            email=session.user.email.strip().lower(),
            expires_at=datetime.fromtimestamp(expires, UTC),
            access_token=session.access_token,
            refresh_token=session.refresh_token,
        )

    def sign_in(self, email: str, password: str) -> AuthTokens:
        """Check e-mail and password with Supabase Auth."""
        if not email.strip() or not password:
            raise AuthError(GENERIC_SIGN_IN_ERROR)
        auth = self._auth()
        # Supabase treats addresses case-insensitively, and so does the portal's role look-up.
        credentials: Any = {"email": email.strip().lower(), "password": password}
        return self._tokens(self._call("sign in", lambda: auth.sign_in_with_password(credentials)))

    def refresh(self, refresh_token: str) -> AuthTokens:
        """A new access token for a live session; SessionExpired when Supabase has ended it."""
        auth = self._auth()
        return self._tokens(
            self._call("renew the session", lambda: auth.refresh_session(refresh_token), refreshing=True)
        )

    def sign_out(self, access_token: str) -> None:
        """Revoke this session's refresh token at Supabase (the access token lapses on its own)."""
        auth = self._auth()
        self._call("sign out", lambda: auth.admin.sign_out(access_token, "local"), refreshing=True)


@functools.lru_cache(maxsize=8)
def auth_for(url: str, anon_key: str) -> SupabaseAuth:
    """One SupabaseAuth (and its connection pool) per project and key, shared by every browser session."""
    return SupabaseAuth(url, anon_key)
