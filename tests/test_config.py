"""Settings: sources, validation, production refusals, and documentation kept honest."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.backend.platform.config import DEMO_SECRET, SETTINGS, load_settings, secret_bits, secret_problem
from portal.backend.platform.errors import ConfigError
from tests.conftest import ROOT

STRONG = "Zq8-vT3mKx_91LpRw4nYbE7cHj2uFs6Ga0"  # 34 characters, many different ones, all four classes
PRODUCTION = {"PORTAL_ENVIRONMENT": "production", "PORTAL_BASE_URL": "https://p.example", "PORTAL_DEMO_DATA": "false"}


def test_defaults_and_precedence(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        'PORTAL_LINK_TTL_DAYS = 7\nPORTAL_BASE_URL = "https://from-secrets.example"\nSUPABASE_URL = "x"\n'
    )
    s = load_settings(env={"PORTAL_BASE_URL": "https://from-env.example"}, secrets_path=secrets)
    assert s.link_ttl_days == 7 and s.base_url == "https://from-env.example"
    assert s.database_url == "sqlite:///data/portal.db" and s.demo_data is True
    assert s.extra["SUPABASE_URL"] == "x"
    assert load_settings(env={}, secrets_path=None, link_ttl_days=3).link_ttl_days == 3


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PORTAL_LINK_TTL_DAYS": "soon"}, "must be a whole number"),
        ({"PORTAL_DEMO_DATA": "perhaps"}, "must be true or false"),
        ({"PORTAL_ENVIRONMENT": "staging"}, "'development' or 'production'"),
        ({"PORTAL_ENVIRONMENT": "production"}, "PORTAL_SECRET_KEY is missing or is the demo secret"),
        ({"PORTAL_ENVIRONMENT": "production", "PORTAL_SECRET_KEY": STRONG}, "https://"),
        (
            {"PORTAL_ENVIRONMENT": "production", "PORTAL_SECRET_KEY": STRONG, "PORTAL_BASE_URL": "https://p.example"},
            "PORTAL_DEMO_DATA must be false",
        ),
    ],
)
def test_bad_settings_are_refused_with_the_setting_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env=env, secrets_path=None)


def test_production_starts_with_proper_settings() -> None:
    s = load_settings(
        env={
            "PORTAL_ENVIRONMENT": "production",
            "PORTAL_SECRET_KEY": STRONG,
            "PORTAL_BASE_URL": "https://portal.example",
            "PORTAL_DEMO_DATA": "false",
        },
        secrets_path=None,
    )
    assert s.is_production and s.secret_key != DEMO_SECRET


def test_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [f"PORTAL_{s.name.upper()}" for s in SETTINGS if f"`PORTAL_{s.name.upper()}`" not in readme]
    assert missing == []


def test_secrets_example_is_valid_toml_and_uses_known_settings() -> None:
    import tomllib

    example = tomllib.loads((ROOT / ".streamlit" / "secrets.toml.example").read_text())
    known = {f"PORTAL_{s.name.upper()}" for s in SETTINGS}
    assert {k for k in example if k.startswith("PORTAL_")} <= known
    assert "PORTAL_SECRET_KEY" in example


@pytest.mark.parametrize(
    "weak",
    [
        "s" * 40,  # one repeated letter: accepted before issue 14
        "k" * 48,
        "ab" * 32,  # two characters
        "0123456789" * 3 + "01",  # 32 digits: 106 bits
        "abcdefghi" * 4,  # 36 characters, 9 different ones
        "short-but-Random-7",
    ],
)
def test_a_long_but_guessable_secret_is_refused_with_the_rule_stated(weak: str) -> None:
    with pytest.raises(ConfigError, match="too weak: it needs at least 32 characters, at least 10 different"):
        load_settings(env={**PRODUCTION, "PORTAL_SECRET_KEY": weak}, secrets_path=None)
    with pytest.raises(ConfigError, match="too weak"):  # hosted mode applies the same rule
        load_settings(
            env={"PORTAL_AUTH_BACKEND": "supabase", "PORTAL_SECRET_KEY": weak, "SUPABASE_URL": "https://a.supabase.co"},
            secrets_path=None,
        )


def test_generated_secrets_pass_the_rule() -> None:
    import secrets

    for _ in range(200):
        for key in (secrets.token_urlsafe(48), secrets.token_hex(32), secrets.token_urlsafe(24)):
            assert secret_problem(key) is None, key
    assert secret_bits(STRONG) >= 128 and secret_bits("s" * 40) == 0
    assert load_settings(env={**PRODUCTION, "PORTAL_SECRET_KEY": STRONG}, secrets_path=None).is_production
    assert "demo secret" in (secret_problem(DEMO_SECRET) or "")
