"""Portal settings: declared once as data, read from PORTAL_* environment variables and secrets.toml."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from portal.backend.platform.errors import ConfigError

DEMO_SECRET = "demo-secret-do-not-use-in-production"  # noqa: S105 - the point is to detect it
# The fill-in markers of .streamlit/secrets.toml.example: a value still carrying one was never filled in.
PLACEHOLDER_MARKS = ("replace with", "replace-with", "your-project-ref")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9._-]{2,62}")


@dataclass(frozen=True)
class PoolSettings:
    """The database connection pool: `size` kept open, up to `overflow` more under load, and how long (seconds) a
    request waits for a free connection before the portal answers "busy, try again" (back-pressure, no error page)."""

    size: int = 10
    overflow: int = 20
    timeout: float = 30.0


@dataclass(frozen=True)
class Setting:
    """One setting: its name (env var PORTAL_<NAME>), default, help text, other accepted names, and secrecy."""

    name: str
    default: Any
    help: str
    # Supabase's own variable names, so a project's usual secrets work without renaming.
    aliases: tuple[str, ...] = ()
    secret: bool = False

    @property
    def env_name(self) -> str:
        """The PORTAL_* variable name."""
        return f"PORTAL_{self.name.upper()}"

    @property
    def names(self) -> str:
        """How messages name the setting: the PORTAL_* variable and its aliases."""
        return " or ".join((self.env_name, *self.aliases))


# The single list of settings; README's settings table is checked against it by a test.
SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", "sqlite:///data/portal.db", "SQLAlchemy URL of the database (SQLite file or PostgreSQL)."),
    Setting("data_dir", "data", "Folder for the embedded mode: SQLite file and local blob store."),
    Setting(
        "blob_backend", "local", "Where blobs live: `local` (folder under data_dir) or `supabase` (Storage bucket)."
    ),
    Setting(
        "auth_backend",
        "embedded",
        "Staff sign-in: `embedded` (accounts in the database) or `supabase` (Supabase Auth).",
    ),
    Setting("supabase_url", "", "Supabase project URL, https://<ref>.supabase.co.", aliases=("SUPABASE_URL",)),
    Setting(
        "supabase_service_key",
        "",
        "Supabase service_role (secret) key; the server uses it for Storage only.",
        aliases=("SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_SERVICE_KEY"),
        secret=True,
    ),
    Setting(
        "supabase_anon_key",
        "",
        "Supabase anon (publishable) key, used for Auth sign-in.",
        aliases=("SUPABASE_ANON_KEY",),
        secret=True,
    ),
    Setting("supabase_bucket", "consent-portal", "Private Supabase Storage bucket that holds the blobs."),
    Setting("signed_url_seconds", 300, "Lifetime of the signed URLs that show Storage images in the browser."),
    Setting("session_hours", 12, "Longest a staff sign-in lasts before signing in again."),
    Setting(
        "kiosk_idle_seconds",
        90,
        "Seconds a kiosk form may stand untouched before it is cleared for the next person (a countdown shows).",
    ),
    Setting("environment", "development", "`development` or `production`; production refuses demo secrets."),
    Setting(
        "secret_key",
        DEMO_SECRET,
        "Key that signs QR and personal-link tokens. Set a long random value in production.",
        secret=True,
    ),
    Setting("base_url", "http://localhost:8501", "Public address of the portal, used in QR codes and personal links."),
    Setting("link_ttl_days", 180, "Days a personal link stays valid."),
    Setting("demo_data", True, "Fill an empty database with demo data on first start."),
    Setting("expiry_warning_days", 30, "Consents expiring within this many days are shown as warnings."),
    Setting("max_image_pixels", 60_000_000, "Largest image accepted, in pixels (width x height)."),
    Setting("face_detector", "hog", "dlib face detector: `hog` (fast) or `cnn` (more accurate, slower)."),
    Setting(
        "yolo_weights",
        "",
        "Path to Ultralytics YOLO weights for person detection; empty: the file `models fetch` put in data_dir "
        "if present; `off` turns it off.",
    ),
    Setting("match_threshold", "0.6", "Face distance at or below which a match is suggested to staff."),
    Setting(
        "auto_confirm_threshold",
        "0.0",
        "Face distance at or below which a match is confirmed without staff (0 = never).",
    ),
    Setting(
        "ledger_key",
        "",
        "Ed25519 key that signs the ledger head (PEM file path, or base64); made in data_dir when unset outside "
        "production, required in production.",
        secret=True,
    ),
    Setting(
        "ledger_public_key",
        "",
        "Public half of the ledger key (PEM file path, or base64), for a `ledger verify` that holds no private key.",
    ),
    Setting("app_role", "portal_app", "PostgreSQL role `db upgrade` creates for the portal: data access only, no DDL."),
    Setting(
        "app_role_password",
        "",
        "Password `db upgrade` gives that role so the portal can sign in as it; empty leaves it NOLOGIN.",
        secret=True,
    ),
    Setting("smtp_host", "", "SMTP server that sends the portal's e-mail; empty: e-mail is not sent, it waits."),
    Setting("smtp_port", 0, "SMTP port; 0 means the usual one for the security (465 for `tls`, else 587 or 25)."),
    Setting("smtp_user", "", "SMTP user name; empty sends without signing in."),
    Setting("smtp_password", "", "SMTP password of that user.", secret=True),
    Setting("smtp_from", "", "Sender address of the portal's e-mail, e.g. `Photo consent <consent@example.org>`."),
    Setting(
        "smtp_security",
        "starttls",
        "`starttls` (upgrade the connection), `tls` (encrypted from the start) or `none` (local relays only "
        "in production).",
    ),
    # Who the record of processing (Art. 30) names as processors: derived from these at report time, never stored.
    Setting("smtp_provider", "", "Name of the e-mail provider, for the record of processing; empty: the SMTP host."),
    Setting("smtp_provider_country", "", "ISO country code where the e-mail provider processes the mail."),
    Setting(
        "smtp_provider_safeguard",
        "",
        "Transfer safeguard (Art. 46) of the e-mail provider when its country is outside the EU/EEA.",
    ),
    Setting("db_pool_size", 10, "Database connections each portal process keeps open (PostgreSQL; SQLite file too)."),
    Setting("db_max_overflow", 20, "Extra database connections a process opens under load, above the pool size."),
    Setting(
        "db_pool_timeout",
        30,
        "Seconds a request waits for a free database connection before the page says the portal is busy.",
    ),
    Setting("supabase_country", "", "ISO country code of the Supabase project's region (hosted mode)."),
    Setting(
        "supabase_safeguard",
        "EU standard contractual clauses (2021/914) in the Supabase DPA",
        "Transfer safeguard (Art. 46) for Supabase when its country is outside the EU/EEA.",
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; one object, passed in explicitly wherever it is needed."""

    database_url: str = _BY_NAME["database_url"].default
    data_dir: str = _BY_NAME["data_dir"].default
    blob_backend: str = _BY_NAME["blob_backend"].default
    auth_backend: str = _BY_NAME["auth_backend"].default
    supabase_url: str = _BY_NAME["supabase_url"].default
    # Secrets stay out of repr(), so a logged or displayed Settings object never shows a key.
    supabase_service_key: str = field(default=_BY_NAME["supabase_service_key"].default, repr=False)
    supabase_anon_key: str = field(default=_BY_NAME["supabase_anon_key"].default, repr=False)
    supabase_bucket: str = _BY_NAME["supabase_bucket"].default
    signed_url_seconds: int = _BY_NAME["signed_url_seconds"].default
    session_hours: int = _BY_NAME["session_hours"].default
    kiosk_idle_seconds: int = _BY_NAME["kiosk_idle_seconds"].default
    environment: str = _BY_NAME["environment"].default
    secret_key: str = field(default=_BY_NAME["secret_key"].default, repr=False)
    base_url: str = _BY_NAME["base_url"].default
    link_ttl_days: int = _BY_NAME["link_ttl_days"].default
    demo_data: bool = _BY_NAME["demo_data"].default
    expiry_warning_days: int = _BY_NAME["expiry_warning_days"].default
    max_image_pixels: int = _BY_NAME["max_image_pixels"].default
    face_detector: Literal["hog", "cnn"] = _BY_NAME["face_detector"].default  # checked in __post_init__
    yolo_weights: str = _BY_NAME["yolo_weights"].default
    match_threshold: str = _BY_NAME["match_threshold"].default
    auto_confirm_threshold: str = _BY_NAME["auto_confirm_threshold"].default
    ledger_key: str = field(default=_BY_NAME["ledger_key"].default, repr=False)
    ledger_public_key: str = _BY_NAME["ledger_public_key"].default
    app_role: str = _BY_NAME["app_role"].default
    app_role_password: str = field(default=_BY_NAME["app_role_password"].default, repr=False)
    smtp_host: str = _BY_NAME["smtp_host"].default
    smtp_port: int = _BY_NAME["smtp_port"].default
    smtp_user: str = _BY_NAME["smtp_user"].default
    smtp_password: str = field(default=_BY_NAME["smtp_password"].default, repr=False)
    smtp_from: str = _BY_NAME["smtp_from"].default
    smtp_security: str = _BY_NAME["smtp_security"].default
    smtp_provider: str = _BY_NAME["smtp_provider"].default
    smtp_provider_country: str = _BY_NAME["smtp_provider_country"].default
    smtp_provider_safeguard: str = _BY_NAME["smtp_provider_safeguard"].default
    db_pool_size: int = _BY_NAME["db_pool_size"].default
    db_max_overflow: int = _BY_NAME["db_max_overflow"].default
    db_pool_timeout: int = _BY_NAME["db_pool_timeout"].default
    supabase_country: str = _BY_NAME["supabase_country"].default
    supabase_safeguard: str = _BY_NAME["supabase_safeguard"].default
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def pool(self) -> PoolSettings:
        """The database connection pool these settings ask for."""
        return PoolSettings(size=self.db_pool_size, overflow=self.db_max_overflow, timeout=float(self.db_pool_timeout))

    @property
    def is_production(self) -> bool:
        """True when running in production mode."""
        return self.environment == "production"

    @property
    def hosted(self) -> bool:
        """True when any part of the portal runs on Supabase (Storage or Auth)."""
        return self.blob_backend == "supabase" or self.auth_backend == "supabase"

    @property
    def smtp_configured(self) -> bool:
        """True when e-mail can be sent (an SMTP host is set; the rest was checked at start)."""
        return bool(self.smtp_host)

    @property
    def smtp_port_or_default(self) -> int:
        """The SMTP port to connect to: the one set, or the usual one for the security."""
        return self.smtp_port or {"tls": 465, "starttls": 587}.get(self.smtp_security, 25)

    @property
    def blob_dir(self) -> Path:
        """Folder of the local blob store."""
        return Path(self.data_dir) / "blobs"

    @property
    def thresholds(self) -> tuple[float, float]:
        """(suggest, auto-confirm) face distance thresholds."""
        try:
            return float(self.match_threshold), float(self.auto_confirm_threshold)
        except ValueError:
            raise ConfigError("PORTAL_MATCH_THRESHOLD and PORTAL_AUTO_CONFIRM_THRESHOLD must be numbers.") from None

    def validate(self) -> Settings:
        """Raise ConfigError for settings that must not be used as they are."""
        if self.environment not in ("development", "production"):
            raise ConfigError(f"PORTAL_ENVIRONMENT must be 'development' or 'production', not {self.environment!r}.")
        if self.blob_backend not in ("local", "supabase"):
            raise ConfigError(f"PORTAL_BLOB_BACKEND must be 'local' or 'supabase', not {self.blob_backend!r}.")
        if self.auth_backend not in ("embedded", "supabase"):
            raise ConfigError(f"PORTAL_AUTH_BACKEND must be 'embedded' or 'supabase', not {self.auth_backend!r}.")
        if self.hosted:
            self._validate_hosted()
        if self.is_production:
            if problem := secret_problem(self.secret_key):
                raise ConfigError(f"{problem} (production).")
            if not self.base_url.startswith("https://"):
                raise ConfigError("PORTAL_BASE_URL must start with https:// in production (R14: HTTPS only).")
            if self.demo_data:
                raise ConfigError("PORTAL_DEMO_DATA must be false in production.")
        if self.face_detector not in ("hog", "cnn"):
            raise ConfigError(f"PORTAL_FACE_DETECTOR must be 'hog' or 'cnn', not {self.face_detector!r}.")
        if self.max_image_pixels < 10_000:
            raise ConfigError("PORTAL_MAX_IMAGE_PIXELS is too small to hold a photo.")
        suggest, auto = self.thresholds
        if not 0 < suggest <= 1 or not 0 <= auto <= suggest:
            raise ConfigError(
                "PORTAL_MATCH_THRESHOLD must be in (0, 1] and PORTAL_AUTO_CONFIRM_THRESHOLD between 0 and it."
            )
        if self.link_ttl_days <= 0:
            raise ConfigError("PORTAL_LINK_TTL_DAYS must be a positive number of days.")
        if not 10 <= self.signed_url_seconds <= 86_400:
            raise ConfigError("PORTAL_SIGNED_URL_SECONDS must be between 10 and 86400 seconds.")
        if not 1 <= self.session_hours <= 168:
            raise ConfigError("PORTAL_SESSION_HOURS must be between 1 and 168 hours.")
        if not 3 <= self.kiosk_idle_seconds <= 3600:
            raise ConfigError("PORTAL_KIOSK_IDLE_SECONDS must be between 3 and 3600 seconds.")
        if not 1 <= self.db_pool_size <= 1000 or not 0 <= self.db_max_overflow <= 1000:
            raise ConfigError(
                "PORTAL_DB_POOL_SIZE must be between 1 and 1000 and PORTAL_DB_MAX_OVERFLOW between 0 and 1000 "
                "(their sum stays below the database server's max_connections, shared by every process)."
            )
        if not 1 <= self.db_pool_timeout <= 600:
            raise ConfigError("PORTAL_DB_POOL_TIMEOUT must be between 1 and 600 seconds.")
        self._validate_smtp()
        for name in ("smtp_provider_country", "supabase_country"):
            value = getattr(self, name)
            if value and not (len(value) == 2 and value.isascii() and value.isalpha()):
                raise ConfigError(f"PORTAL_{name.upper()} must be a two-letter ISO country code, not {value!r}.")
        return self

    def _validate_smtp(self) -> None:
        """E-mail settings: all or nothing, a real sender address, and no clear-text SMTP off this machine in
        production (the messages carry personal links, the sign-in a password)."""
        if not self.smtp_host:
            stray = [n for n in ("smtp_user", "smtp_password", "smtp_from") if getattr(self, n)]
            if stray:
                names = ", ".join(f"PORTAL_{n.upper()}" for n in stray)
                raise ConfigError(
                    f"{names} set but PORTAL_SMTP_HOST is empty: set the SMTP server too, or remove them."
                )
            return
        if not _HOST.fullmatch(self.smtp_host):
            raise ConfigError(f"PORTAL_SMTP_HOST {self.smtp_host!r} is not a host name or IP address.")
        if self.smtp_security not in SMTP_SECURITY:
            raise ConfigError(
                f"PORTAL_SMTP_SECURITY must be one of {', '.join(SMTP_SECURITY)}, not {self.smtp_security!r}."
            )
        if not 0 <= self.smtp_port <= 65_535:
            raise ConfigError("PORTAL_SMTP_PORT must be between 1 and 65535 (0: the usual port for the security).")
        if not self.smtp_from:
            raise ConfigError("PORTAL_SMTP_FROM is missing: the sender address of the portal's e-mail.")
        if not mail_address(self.smtp_from):
            raise ConfigError(
                f"PORTAL_SMTP_FROM {self.smtp_from!r} is not an e-mail address (name@example.org, optionally "
                "as Name <name@example.org>)."
            )
        if bool(self.smtp_user) != bool(self.smtp_password):
            raise ConfigError("PORTAL_SMTP_USER and PORTAL_SMTP_PASSWORD go together: set both, or neither.")
        local = self.smtp_host in ("localhost", "127.0.0.1", "::1")
        if self.is_production and self.smtp_security == "none" and not local:
            raise ConfigError(
                "PORTAL_SMTP_SECURITY is 'none' for a server that is not on this machine: in production e-mail with "
                "personal links (and the SMTP password) must not cross the network in clear. Use starttls or tls."
            )

    def _validate_hosted(self) -> None:
        """Hosted mode (Supabase Storage or Auth) starts only with every secret it needs, none a demo value."""
        names = {s.name: s.names for s in SETTINGS}
        if problem := secret_problem(self.secret_key):
            raise ConfigError(f"{problem} (hosted mode).")
        if not self.supabase_url or is_placeholder(self.supabase_url):
            raise ConfigError(
                f"{names['supabase_url']} is missing: hosted mode needs the project URL, https://<ref>.supabase.co "
                "(Supabase dashboard: Project Settings, API)."
            )
        parts = urlsplit(self.supabase_url)
        local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme not in ("https", "http") or not parts.hostname or (parts.scheme == "http" and not local):
            raise ConfigError(
                f"{names['supabase_url']} must be an https:// URL such as https://<ref>.supabase.co "
                "(plain http only for a Supabase running on this machine)."
            )
        if self.blob_backend == "supabase":
            _check_key(
                self.supabase_service_key,
                names["supabase_service_key"],
                want="service_role",
                purpose="Storage (the service_role / secret key)",
            )
            if not _BUCKET.fullmatch(self.supabase_bucket):
                raise ConfigError(
                    f"PORTAL_SUPABASE_BUCKET {self.supabase_bucket!r} is not a bucket name: 3-63 lower-case "
                    "letters, digits, '.', '_' or '-'."
                )
        if self.auth_backend == "supabase":
            _check_key(
                self.supabase_anon_key,
                names["supabase_anon_key"],
                want="anon",
                purpose="Auth (the anon / publishable key)",
            )
        if is_placeholder(self.database_url):
            raise ConfigError(
                "PORTAL_DATABASE_URL still holds the example's YOUR-PROJECT-REF: paste the project's connection string "
                "(Connect, Session pooler) with postgresql+psycopg:// in front."
            )
        if self.is_production and self.database_url.startswith("sqlite"):
            raise ConfigError(
                "PORTAL_DATABASE_URL is a SQLite file, but hosted mode in production needs the shared PostgreSQL "
                "(the Supabase connection string), or replicas would each keep their own data."
            )


SMTP_SECURITY = ("none", "starttls", "tls")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[?[0-9A-Fa-f:.]+\]?")
_ADDRESS = re.compile(r"[^@\s<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")


def mail_address(value: str) -> str | None:
    """The bare address of `addr@host` or `Name <addr@host>`, or None when it is not one."""
    _, address = parseaddr(value)
    return address if _ADDRESS.fullmatch(address) and "," not in value else None


# The secret-key rule: long, made of many different characters, and >= 128 bits estimated from character classes.
SECRET_MIN_LENGTH = 32
SECRET_MIN_DISTINCT = 10
SECRET_MIN_BITS = 128
SECRET_RULE = (
    f"at least {SECRET_MIN_LENGTH} characters, at least {SECRET_MIN_DISTINCT} different characters, and at least "
    f"{SECRET_MIN_BITS} bits estimated as length x log2(size of the character classes used: 26 lower-case, "
    "26 upper-case, 10 digits, 33 other)"
)
_SECRET_HOWTO = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"  # noqa: S105 - a command, not a key


def secret_bits(secret: str) -> float:
    """Estimated entropy of a secret: length x log2(character-class pool); 0 with fewer than 10 distinct characters."""
    # Length alone accepts 'sss…s'; the pool alone accepts 'abab…': demanding distinct characters closes both.
    if len(set(secret)) < SECRET_MIN_DISTINCT:
        return 0.0
    pool = (
        26 * any(c.islower() and c.isascii() for c in secret)
        + 26 * any(c.isupper() and c.isascii() for c in secret)
        + 10 * any(c.isdigit() and c.isascii() for c in secret)
        + 33 * any(not c.isascii() or not c.isalnum() for c in secret)
    )
    return len(secret) * math.log2(pool) if pool > 1 else 0.0


def secret_problem(secret: str) -> str | None:
    """Why a secret key must not sign tokens (demo value, placeholder, too short or too guessable), or None."""
    if secret == DEMO_SECRET or not secret or is_placeholder(secret):
        return f"PORTAL_SECRET_KEY is missing or is the demo secret; set a random value ({_SECRET_HOWTO})"
    if len(secret) < SECRET_MIN_LENGTH or secret_bits(secret) < SECRET_MIN_BITS:
        return f"PORTAL_SECRET_KEY is too weak: it needs {SECRET_RULE}; for example {_SECRET_HOWTO}"
    return None


def is_placeholder(value: str) -> bool:
    """True for a value still carrying a fill-in marker of secrets.toml.example."""
    lowered = value.lower()
    return any(mark in lowered for mark in PLACEHOLDER_MARKS)


def key_role(key: str) -> str | None:
    """The role a Supabase API key grants ('anon' or 'service_role'), read from the key itself when it says."""
    # New-style keys name their kind in a prefix; legacy keys are JWTs whose payload carries a `role` claim.
    if key.startswith("sb_publishable_"):
        return "anon"
    if key.startswith("sb_secret_"):
        return "service_role"
    parts = key.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    role = payload.get("role") if isinstance(payload, dict) else None
    return role if isinstance(role, str) else None


def _check_key(key: str, names: str, *, want: str, purpose: str) -> None:
    """Refuse a missing or placeholder key, or one that is visibly the other kind of Supabase key."""
    if not key or is_placeholder(key):
        raise ConfigError(f"{names} is missing: hosted mode needs it for {purpose}.")
    role = key_role(key)
    if role is not None and role != want:
        # Never echo the key itself: naming its kind is enough to act on.
        article = "an" if role[:1] in "aeiou" else "a"
        raise ConfigError(f"{names} holds {article} {role} key, but {purpose} is needed here.")


def _coerce(setting: Setting, raw: Any) -> Any:
    """Convert a raw string or TOML value to the type of the setting's default."""
    kind = type(setting.default)
    if isinstance(raw, kind) and not (kind is int and isinstance(raw, bool)):
        return raw
    text = str(raw).strip()
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"PORTAL_{setting.name.upper()} must be true or false, not {text!r}.")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ConfigError(f"PORTAL_{setting.name.upper()} must be a whole number, not {text!r}.") from None
    return text


def read_secrets_file(path: Path) -> dict[str, Any]:
    """Read a secrets.toml file; a missing file is an empty mapping."""
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def load_settings(
    env: Mapping[str, str] | None = None,
    secrets_path: Path | None = Path(".streamlit/secrets.toml"),
    **overrides: Any,
) -> Settings:
    """Resolve settings: explicit overrides, then PORTAL_* env vars, then secrets.toml, then defaults."""
    env = os.environ if env is None else env
    secrets = read_secrets_file(secrets_path) if secrets_path else {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        names = (setting.env_name, *setting.aliases)
        if overrides.get(setting.name) is not None:
            raw = overrides[setting.name]
        elif found := next((n for n in names if n in env), None):
            raw = env[found]
        elif found := next((n for n in names if n in secrets), None):
            raw = secrets[found]
        else:
            continue
        values[setting.name] = _coerce(setting, raw)
    extra = {k: v for k, v in secrets.items() if not k.startswith("PORTAL_")}
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in known}, extra=extra).validate()
