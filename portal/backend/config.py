"""Portal settings: declared once as data, read from PORTAL_* environment variables and secrets.toml."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from portal.backend.errors import ConfigError

DEMO_SECRET = "demo-secret-do-not-use-in-production"  # noqa: S105 - the point is to detect it


@dataclass(frozen=True)
class Setting:
    """One setting: its name (env var PORTAL_<NAME>), default and a help text for the docs."""

    name: str
    default: Any
    help: str


# The single list of settings; README's settings table is checked against it by a test.
SETTINGS: tuple[Setting, ...] = (
    Setting("database_url", "sqlite:///data/portal.db", "SQLAlchemy URL of the database (SQLite file or PostgreSQL)."),
    Setting("data_dir", "data", "Folder for the embedded mode: SQLite file and local blob store."),
    Setting(
        "blob_backend", "local", "Where blobs live: `local` (folder under data_dir) or `supabase` (Storage bucket)."
    ),
    Setting("environment", "development", "`development` or `production`; production refuses demo secrets."),
    Setting(
        "secret_key", DEMO_SECRET, "Key that signs QR and personal-link tokens. Set a long random value in production."
    ),
    Setting("base_url", "http://localhost:8501", "Public address of the portal, used in QR codes and personal links."),
    Setting("link_ttl_days", 180, "Days a personal link stays valid."),
    Setting("demo_data", True, "Fill an empty database with demo data on first start."),
    Setting("expiry_warning_days", 30, "Consents expiring within this many days are shown as warnings."),
    Setting("max_image_pixels", 60_000_000, "Largest image accepted, in pixels (width x height)."),
    Setting("face_detector", "hog", "dlib face detector: `hog` (fast) or `cnn` (more accurate, slower)."),
    Setting("yolo_weights", "", "Path to Ultralytics YOLO weights for person detection; empty turns it off."),
    Setting("match_threshold", "0.6", "Face distance at or below which a match is suggested to staff."),
    Setting("auto_confirm_threshold", "0.0", "Face distance at or below which a match is confirmed without staff (0 = never)."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Resolved settings; one object, passed in explicitly wherever it is needed."""

    database_url: str = _BY_NAME["database_url"].default
    data_dir: str = _BY_NAME["data_dir"].default
    blob_backend: str = _BY_NAME["blob_backend"].default
    environment: str = _BY_NAME["environment"].default
    secret_key: str = _BY_NAME["secret_key"].default
    base_url: str = _BY_NAME["base_url"].default
    link_ttl_days: int = _BY_NAME["link_ttl_days"].default
    demo_data: bool = _BY_NAME["demo_data"].default
    expiry_warning_days: int = _BY_NAME["expiry_warning_days"].default
    max_image_pixels: int = _BY_NAME["max_image_pixels"].default
    face_detector: str = _BY_NAME["face_detector"].default
    yolo_weights: str = _BY_NAME["yolo_weights"].default
    match_threshold: str = _BY_NAME["match_threshold"].default
    auto_confirm_threshold: str = _BY_NAME["auto_confirm_threshold"].default
    extra: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def is_production(self) -> bool:
        """True when running in production mode."""
        return self.environment == "production"

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
        if self.is_production:
            if self.secret_key == DEMO_SECRET or len(self.secret_key) < 32:
                raise ConfigError(
                    "PORTAL_SECRET_KEY is missing or is the demo secret; production needs a random value "
                    "of at least 32 characters (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')."
                )
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
        return self


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
        key = f"PORTAL_{setting.name.upper()}"
        if overrides.get(setting.name) is not None:
            raw = overrides[setting.name]
        elif key in env:
            raw = env[key]
        elif key in secrets:
            raw = secrets[key]
        else:
            continue
        values[setting.name] = _coerce(setting, raw)
    extra = {k: v for k, v in secrets.items() if not k.startswith("PORTAL_")}
    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in known}, extra=extra).validate()
