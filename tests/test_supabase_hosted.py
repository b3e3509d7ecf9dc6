"""Hosted mode on Supabase: settings, Storage failures, uploads that fail halfway, Auth sign-in and sessions, the
CLI and the sign-in page. Supabase itself is the recorded exchange replayed on 127.0.0.1 (tests/supabase_replay.py);
the database, the blob folder, the CLI and the pages are the real ones."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from streamlit.testing.v1 import AppTest

from portal.backend.photos.assets import ingest
from portal.backend.photos.vision.intake import prepare_image
from portal.backend.platform.actors import Actor
from portal.backend.platform.blobs import LocalBlobStore
from portal.backend.platform.config import Settings, load_settings
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import assets, audit_log, staff_users
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, ConfigError, ServiceUnavailable, SessionExpired, StorageError
from portal.backend.platform.hosted import GENERIC_SIGN_IN_ERROR, SupabaseBlobStore
from portal.backend.staff.accounts import create_user
from portal.backend.staff.audit import audit_count
from portal.backend.staff.sessions import keep_alive, sign_in, sign_out
from tests.conftest import ROOT, shown
from tests.imagery import group_photo
from tests.supabase_replay import ANON_KEY, SERVICE_KEY, ReplayServer, load

BUCKET = "consent-portal"
SECRET = "hosted-test-Secret-4u7Qz9kVw2Lp8Xr3Nt6Bm1Yc"  # passes the key rule (issue 14: one repeated letter does not)


def closed_port_url() -> str:
    """The URL of a local port nobody listens on: an unreachable Supabase."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def replay(request: pytest.FixtureRequest, name: str, **subs: Any) -> ReplayServer:
    """The recorded exchange of the running test."""
    return ReplayServer(
        load(name, request.node.originalname), service_key=SERVICE_KEY, anon_key=ANON_KEY, bucket=BUCKET, **subs
    )


def hosted_settings(url: str, **env: str) -> Settings:
    """Hosted-mode settings pointing at `url` (Storage and Auth)."""
    base = {
        "PORTAL_BLOB_BACKEND": "supabase",
        "PORTAL_AUTH_BACKEND": "supabase",
        "SUPABASE_URL": url,
        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
        "SUPABASE_ANON_KEY": ANON_KEY,
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_SUPABASE_BUCKET": BUCKET,
    }
    return load_settings(env={**base, **env}, secrets_path=None)


# --- settings -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "PORTAL_SECRET_KEY is missing or is the demo secret"),
        ({"PORTAL_SECRET_KEY": SECRET}, "PORTAL_SUPABASE_URL or SUPABASE_URL is missing"),
        (
            {"PORTAL_SECRET_KEY": SECRET, "SUPABASE_URL": "https://abc.supabase.co"},
            "PORTAL_SUPABASE_SERVICE_KEY or SUPABASE_SERVICE_ROLE_KEY or SUPABASE_SERVICE_KEY is missing",
        ),
        (
            {
                "PORTAL_SECRET_KEY": SECRET,
                "SUPABASE_URL": "https://abc.supabase.co",
                "SUPABASE_SERVICE_ROLE_KEY": ANON_KEY,
            },
            "holds an anon key, but Storage",
        ),
        (
            {
                "PORTAL_SECRET_KEY": SECRET,
                "SUPABASE_URL": "http://abc.supabase.co",
                "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
            },
            "must be an https:// URL",
        ),
        (
            {
                "PORTAL_SECRET_KEY": SECRET,
                "SUPABASE_URL": "https://abc.supabase.co",
                "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
                "PORTAL_SUPABASE_BUCKET": "Bad Bucket!",
            },
            "is not a bucket name",
        ),
        (
            {
                "PORTAL_SECRET_KEY": SECRET,
                "SUPABASE_URL": "https://abc.supabase.co",
                "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
                "PORTAL_ENVIRONMENT": "production",
                "PORTAL_BASE_URL": "https://p.example",
                "PORTAL_DEMO_DATA": "false",
            },
            "needs the shared PostgreSQL",
        ),
    ],
)
def test_hosted_storage_refuses_to_start_naming_the_missing_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(env={"PORTAL_BLOB_BACKEND": "supabase", **env}, secrets_path=None)


def test_hosted_auth_needs_the_anon_key_and_not_the_service_key() -> None:
    env = {"PORTAL_AUTH_BACKEND": "supabase", "PORTAL_SECRET_KEY": SECRET, "SUPABASE_URL": "https://abc.supabase.co"}
    with pytest.raises(ConfigError, match="PORTAL_SUPABASE_ANON_KEY or SUPABASE_ANON_KEY is missing"):
        load_settings(env=env, secrets_path=None)
    with pytest.raises(ConfigError, match="holds a service_role key, but Auth") as refused:
        load_settings(env={**env, "SUPABASE_ANON_KEY": SERVICE_KEY}, secrets_path=None)
    assert SERVICE_KEY not in str(refused.value)
    for key in (ANON_KEY, "sb_publishable_abc123"):
        assert load_settings(env={**env, "SUPABASE_ANON_KEY": key}, secrets_path=None).hosted


def test_supabase_names_work_and_portal_names_win(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'SUPABASE_URL = "https://from-secrets.supabase.co"\nSUPABASE_ANON_KEY = "{ANON_KEY}"\n')
    s = load_settings(env={"PORTAL_AUTH_BACKEND": "supabase", "PORTAL_SECRET_KEY": SECRET}, secrets_path=secrets)
    assert s.supabase_url == "https://from-secrets.supabase.co" and s.supabase_anon_key == ANON_KEY
    s = load_settings(
        env={"SUPABASE_URL": "https://alias.supabase.co", "PORTAL_SUPABASE_URL": "https://portal.supabase.co"},
        secrets_path=secrets,
    )
    assert s.supabase_url == "https://portal.supabase.co"
    # Keys stay out of repr(): a logged or displayed Settings object shows none of them.
    shown = repr(hosted_settings("https://abc.supabase.co"))
    assert SERVICE_KEY not in shown and ANON_KEY not in shown and SECRET not in shown


def test_the_secrets_example_shows_the_hosted_setup_and_is_refused_until_filled_in(tmp_path: Path) -> None:
    example = (ROOT / ".streamlit" / "secrets.toml.example").read_text()
    hosted = example.split("Hosted on Supabase", 1)[1]
    # Uncomment the hosted block, as the README tells a person to.
    text = example.split("# --- Hosted", 1)[0] + "\n".join(
        line[2:] for line in hosted.splitlines() if re.match(r"# [A-Z_]+ = ", line)
    )
    for name in (
        "SUPABASE_URL",
        "SUPABASE_SERVICE_ROLE_KEY",
        "SUPABASE_ANON_KEY",
        "PORTAL_BLOB_BACKEND",
        "PORTAL_AUTH_BACKEND",
        "PORTAL_DATABASE_URL",
    ):
        assert f"\n{name} = " in text
    secrets = tmp_path / "secrets.toml"
    fills = [
        ("PORTAL_SECRET_KEY", "replace with: python -c 'import secrets; print(secrets.token_urlsafe(48))'", SECRET),
        ("SUPABASE_URL", "https://YOUR-PROJECT-REF.supabase.co", "https://abcdefghij.supabase.co"),
        ("SUPABASE_SERVICE_ROLE_KEY", "replace with the service_role key", SERVICE_KEY),
        ("SUPABASE_ANON_KEY", "replace with the anon key", ANON_KEY),
        ("PORTAL_DATABASE_URL", "YOUR-PROJECT-REF", "abcdefghij"),
    ]
    for name, placeholder, real in fills:
        secrets.write_text(text)
        with pytest.raises(ConfigError, match=name):
            load_settings(env={}, secrets_path=secrets)
        assert placeholder in text
        text = text.replace(placeholder, real)
    secrets.write_text(text)
    settings = load_settings(env={}, secrets_path=secrets)
    assert settings.hosted and settings.is_production and settings.database_url.startswith("postgresql+psycopg://")


# --- Storage: wrong keys, unreachable, missing or public bucket, limits -----------------------------------------


def test_a_wrong_api_key_is_a_config_error_without_the_key(request: pytest.FixtureRequest) -> None:
    with replay(request, "supabase_storage") as server:
        with pytest.raises(ConfigError, match="SUPABASE_SERVICE_ROLE_KEY") as refused:
            SupabaseBlobStore.from_settings(hosted_settings(server.url))
        server.assert_complete()
    assert "Invalid API key" in str(refused.value) and SERVICE_KEY not in str(refused.value)


def test_an_invalid_jwt_is_a_config_error(request: pytest.FixtureRequest) -> None:
    with replay(request, "supabase_storage") as server:
        with pytest.raises(ConfigError, match=r"refused the portal's key .*invalid signature.*service_role"):
            SupabaseBlobStore.from_settings(hosted_settings(server.url))
        server.assert_complete()


def test_an_unreachable_project_is_service_unavailable() -> None:
    url = closed_port_url()
    with pytest.raises(ServiceUnavailable, match=f"Cannot reach Supabase Storage at {url}: no connection") as down:
        SupabaseBlobStore.from_settings(hosted_settings(url))
    assert SERVICE_KEY not in str(down.value)


def test_a_missing_bucket_is_named_and_storage_init_creates_it_private(request: pytest.FixtureRequest) -> None:
    with replay(request, "supabase_storage") as server:
        store = SupabaseBlobStore(server.url, SERVICE_KEY, BUCKET)
        with pytest.raises(ConfigError, match=f"no bucket '{BUCKET}'.*python -m portal storage init"):
            store.check_bucket()
        assert store.create_bucket() is True  # the recording checks it is created with public: false
        store.check_bucket()
        server.assert_complete()


def test_a_public_bucket_is_refused(request: pytest.FixtureRequest) -> None:
    with replay(request, "supabase_storage") as server:
        with pytest.raises(ConfigError, match="is public: anyone could fetch photos"):
            SupabaseBlobStore.from_settings(hosted_settings(server.url))
        server.assert_complete()


def test_an_oversized_upload_names_the_limit(request: pytest.FixtureRequest) -> None:
    with replay(request, "supabase_storage") as server:
        store = SupabaseBlobStore.from_settings(hosted_settings(server.url))
        with pytest.raises(StorageError, match="free plan allows 50 MB per file"):
            store.put("big/photo.jpg", b"x" * 64, content_type="image/jpeg")
        server.assert_complete()


# --- uploads that fail halfway: no row without its blob, no blob without its row ---------------------------------


class FlakyStore(LocalBlobStore):
    """The real local store, failing the n-th upload (as a store that drops the connection would)."""

    def __init__(self, root: Path, fail_on_put: int | None) -> None:
        super().__init__(root)
        self.fail_on_put, self.puts = fail_on_put, 0

    def put(self, key: str, data: bytes, *, content_type: str) -> None:
        """Store, unless this is the upload that is to fail."""
        self.puts += 1
        if self.puts == self.fail_on_put:
            raise ServiceUnavailable("Cannot reach Supabase Storage: the connection broke off.")
        super().put(key, data, content_type=content_type)


def _asset_count(db: Database) -> int:
    with db.read() as conn:
        return conn.execute(select(func.count()).select_from(assets)).scalar_one()


@pytest.mark.parametrize("failure", ["original upload", "thumbnail upload", "database insert"])
def test_an_intake_that_fails_halfway_leaves_neither_row_nor_blob(
    org_db: Database, tmp_path: Path, failure: str
) -> None:
    photo = group_photo(["grace_hopper"])
    store = FlakyStore(tmp_path / "blobs", {"original upload": 1, "thumbnail upload": 2}.get(failure))
    # A staff id that does not exist makes the row itself fail after both blobs were stored.
    uploader = Actor.staff(999_999, "staff") if failure == "database insert" else None
    with pytest.raises(Exception, match=r"connection broke off|FOREIGN KEY|foreign key"):
        ingest(org_db, store, data=photo, filename="p.jpg", max_pixels=60_000_000, actor=uploader)
    assert _asset_count(org_db) == 0
    assert store.list_keys("originals/") == [] and store.list_keys("thumbs/") == []
    # The same file goes in whole once the store (or the input) is fine again.
    store.fail_on_put = None
    intake = ingest(org_db, store, data=photo, filename="p.jpg", max_pixels=60_000_000)
    assert intake.created and _asset_count(org_db) == 1
    assert store.list_keys("originals/") == [intake.asset.blob_key]
    assert store.list_keys("thumbs/") == [intake.asset.thumb_key]


def test_an_upload_that_breaks_off_leaves_neither_row_nor_blob(
    request: pytest.FixtureRequest, org_db: Database
) -> None:
    photo = group_photo(["grace_hopper"])
    sha = prepare_image(photo, max_pixels=60_000_000).sha256
    with replay(request, "supabase_storage", sha=sha, sha2=sha[:2]) as server:
        store = SupabaseBlobStore.from_settings(hosted_settings(server.url))
        with pytest.raises(ServiceUnavailable, match="connection broke off"):
            ingest(org_db, store, data=photo, filename="p.jpg", max_pixels=60_000_000)
        # The recording ends with the two deletes that clean up: the original that arrived and the thumbnail.
        server.assert_complete()
    assert _asset_count(org_db) == 0


# --- Auth: roles from the database, expiry, renewal, sign-out ------------------------------------------------------


def _add_staff(db: Database, email: str, role: str, *, password: str | None = None) -> None:
    with db.write() as conn:
        create_user(
            conn, email=email, display_name=email.split("@")[0].title(), role=role, password=password, now=utcnow()
        )


@pytest.fixture
def expiries() -> dict[str, int]:
    """Token expiry times for the recordings: an hour and two hours from now."""
    now = int(datetime.now(UTC).timestamp())
    return {"expires_at": now + 3600, "expires_later": now + 7200}


def test_supabase_sign_in_uses_the_portal_role_renews_and_signs_out(
    request: pytest.FixtureRequest, org_db: Database, expiries: dict[str, int]
) -> None:
    _add_staff(org_db, "manager@demo.example", "manager")
    now = utcnow()
    with replay(request, "supabase_auth", **expiries) as server:
        settings = hosted_settings(server.url, PORTAL_BLOB_BACKEND="local")
        session = sign_in(settings, org_db, email=" Manager@Demo.example ", password="right-password", now=now)
        assert (session.provider, session.user.role, session.user.email) == (
            "supabase",
            "manager",
            "manager@demo.example",
        )
        assert session.expires_at == datetime.fromtimestamp(expiries["expires_at"], UTC)
        assert session.ends_at == now + timedelta(hours=settings.session_hours)
        assert "access-token" not in repr(session)
        assert keep_alive(settings, org_db, session, now=now + timedelta(minutes=10)) is session  # no request
        with org_db.write() as conn:  # demoted while signed in
            conn.execute(update(staff_users).where(staff_users.c.email == "manager@demo.example").values(role="staff"))
        renewed = keep_alive(settings, org_db, session, now=session.expires_at - timedelta(seconds=30))
        assert renewed.user.role == "staff" and renewed.access_token == "access-token-2"
        assert renewed.expires_at == datetime.fromtimestamp(expiries["expires_later"], UTC)
        sign_out(settings, renewed)  # the recording expects the logout with the renewed token
        server.assert_complete()
    with org_db.read() as conn:
        assert audit_count(conn, action="sign_in") == 1


def test_a_wrong_password_gets_the_generic_message(request: pytest.FixtureRequest, org_db: Database) -> None:
    _add_staff(org_db, "manager@demo.example", "manager")
    with replay(request, "supabase_auth") as server:
        with pytest.raises(AuthError) as refused:
            sign_in(
                hosted_settings(server.url, PORTAL_BLOB_BACKEND="local"),
                org_db,
                email="manager@demo.example",
                password="wrong-password",
            )
        server.assert_complete()
    assert str(refused.value) == GENERIC_SIGN_IN_ERROR


def test_an_unconfirmed_email_is_told_so(request: pytest.FixtureRequest, org_db: Database) -> None:
    with replay(request, "supabase_auth") as server:
        with pytest.raises(AuthError, match="not confirmed in Supabase"):
            sign_in(
                hosted_settings(server.url, PORTAL_BLOB_BACKEND="local"),
                org_db,
                email="manager@demo.example",
                password="right-password",
            )
        server.assert_complete()


def test_a_supabase_user_without_a_portal_account_is_refused(
    request: pytest.FixtureRequest, org_db: Database, expiries: dict[str, int]
) -> None:
    with replay(request, "supabase_auth", **expiries) as server:
        with pytest.raises(
            AuthError, match=re.escape("stranger@example.org is known to Supabase Auth but has no active account")
        ):
            sign_in(
                hosted_settings(server.url, PORTAL_BLOB_BACKEND="local"),
                org_db,
                email="stranger@example.org",
                password="right-password",
            )
        server.assert_complete()  # including the logout of the Supabase session nobody will use
    with org_db.read() as conn:
        refused = conn.execute(select(audit_log.c.actor).where(audit_log.c.action == "sign_in_refused")).scalars().all()
    assert refused == ["supabase:stranger@example.org"]


def test_a_refused_renewal_ends_the_session(
    request: pytest.FixtureRequest, org_db: Database, expiries: dict[str, int]
) -> None:
    _add_staff(org_db, "manager@demo.example", "manager")
    with replay(request, "supabase_auth", **expiries) as server:
        settings = hosted_settings(server.url, PORTAL_BLOB_BACKEND="local")
        session = sign_in(settings, org_db, email="manager@demo.example", password="right-password")
        with pytest.raises(SessionExpired, match="sign in again"):
            keep_alive(settings, org_db, session, now=session.expires_at)
        server.assert_complete()


def test_a_wrong_anon_key_is_a_config_error(request: pytest.FixtureRequest, org_db: Database) -> None:
    with replay(request, "supabase_auth") as server:
        with pytest.raises(ConfigError, match="SUPABASE_ANON_KEY must be the project's anon") as refused:
            sign_in(
                hosted_settings(server.url, PORTAL_BLOB_BACKEND="local"),
                org_db,
                email="manager@demo.example",
                password="right-password",
            )
        server.assert_complete()
    assert ANON_KEY not in str(refused.value)


def test_an_unreachable_auth_is_service_unavailable(org_db: Database) -> None:
    url = closed_port_url()
    with pytest.raises(ServiceUnavailable, match=f"Cannot reach Supabase Auth at {url}"):
        sign_in(hosted_settings(url, PORTAL_BLOB_BACKEND="local"), org_db, email="a@b.example", password="pw-pw-pw-pw")


def test_embedded_sessions_expire_and_keep_their_own_accounts(org_db: Database) -> None:
    _add_staff(org_db, "staff@example.org", "staff", password="a-long-password")
    settings = load_settings(env={"PORTAL_SESSION_HOURS": "2"}, secrets_path=None)
    now = utcnow()
    session = sign_in(settings, org_db, email="staff@example.org", password="a-long-password", now=now)
    assert session.provider == "embedded" and session.ends_at == now + timedelta(hours=2)
    assert keep_alive(settings, org_db, session, now=now + timedelta(hours=1)) is session
    with pytest.raises(SessionExpired, match="ended after 2 hours"):
        keep_alive(settings, org_db, session, now=now + timedelta(hours=2))


# --- the CLI and the pages -------------------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str], cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m portal` with exactly these PORTAL_ / SUPABASE_ settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "SUPABASE_"))}
    return subprocess.run(
        [sys.executable, "-m", "portal", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, "PYTHONPATH": str(ROOT), **env},
        input=stdin,
    )


def test_storage_check_on_the_cli(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> None:
    env = {
        "PORTAL_DATABASE_URL": db.url,
        "PORTAL_BLOB_BACKEND": "supabase",
        "SUPABASE_SERVICE_ROLE_KEY": SERVICE_KEY,
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_SUPABASE_BUCKET": BUCKET,
    }
    with replay(request, "supabase_storage") as server:
        ok = _cli("storage", "check", env={**env, "SUPABASE_URL": server.url}, cwd=tmp_path)
        server.assert_complete()
    assert ok.returncode == 0 and "is reachable with the service key and private" in ok.stdout, ok.stderr
    down = closed_port_url()
    for args in (("storage", "check"), ("assets", "import", str(tmp_path))):
        failed = _cli(*args, env={**env, "SUPABASE_URL": down}, cwd=tmp_path)
        assert failed.returncode == 1
        assert failed.stderr.startswith(f"error: Cannot reach Supabase Storage at {down}"), failed.stderr
        assert "Traceback" not in failed.stderr and SERVICE_KEY not in failed.stderr + failed.stdout
    missing = _cli("storage", "check", env={**env, "SUPABASE_URL": down, "SUPABASE_SERVICE_ROLE_KEY": ""}, cwd=tmp_path)
    assert missing.returncode == 1 and "SUPABASE_SERVICE_ROLE_KEY or SUPABASE_SERVICE_KEY is missing" in missing.stderr


@pytest.fixture
def app_env(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """The app on a fresh database (it migrates and seeds the demo data itself)."""
    monkeypatch.setenv("PORTAL_DATABASE_URL", db_url)
    monkeypatch.setenv("PORTAL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    db = Database(db_url)
    yield db
    db.dispose()


def _sign_in_page(email: str, password: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    at.text_input[0].input(email)
    at.text_input[1].input(password)
    return at.button[0].click().run()


def test_hosted_sign_in_and_sign_out_on_the_page(
    request: pytest.FixtureRequest, app_env: Database, monkeypatch: pytest.MonkeyPatch, expiries: dict[str, int]
) -> None:
    with replay(request, "supabase_auth", **expiries) as server:
        for name, value in {
            "PORTAL_AUTH_BACKEND": "supabase",
            "SUPABASE_URL": server.url,
            "SUPABASE_ANON_KEY": ANON_KEY,
            "PORTAL_SECRET_KEY": SECRET,
        }.items():
            monkeypatch.setenv(name, value)
        at = _sign_in_page("manager@demo.example", "right-password")
        assert not at.exception and [t.value for t in at.title] == ["Overview"]
        assert at.session_state["staff_session"].provider == "supabase"
        at.sidebar.button(key="sign_out").click().run()
        assert "staff_session" not in at.session_state and "staff_user" not in at.session_state
        assert not at.metric and "Overview" not in [t.value for t in at.title]
        server.assert_complete()  # the sign-out revoked the session at Supabase


def test_an_expired_session_returns_to_sign_in_with_a_notice(app_env: Database) -> None:
    at = _sign_in_page("manager@demo.example", "demo-manager-pass")
    assert [t.value for t in at.title] == ["Overview"]
    session = at.session_state["staff_session"]
    at.session_state["staff_session"] = replace(session, ends_at=utcnow() - timedelta(seconds=1))
    at.run()
    assert not at.exception and not at.metric  # no staff page any more
    assert "staff_user" not in at.session_state and "staff_session" not in at.session_state
    # The router registers only the sign-in page now, so the same run lands there, with the reason.
    assert [t.value for t in at.title] == ["Staff sign-in"]
    assert "Your session ended after 12 hours" in at.info[0].value


def test_the_pages_say_when_supabase_cannot_be_reached(app_env: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    down = closed_port_url()
    for name, value in {
        "PORTAL_AUTH_BACKEND": "supabase",
        "SUPABASE_URL": down,
        "SUPABASE_ANON_KEY": ANON_KEY,
        "PORTAL_SECRET_KEY": SECRET,
    }.items():
        monkeypatch.setenv(name, value)
    at = _sign_in_page("manager@demo.example", "right-password")
    assert not at.exception and f"Cannot reach Supabase Auth at {down}" in shown(at.error[0].value)
    assert "staff_user" not in at.session_state
    monkeypatch.setenv("PORTAL_BLOB_BACKEND", "supabase")
    monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", SERVICE_KEY)
    at = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=60).run()
    assert not at.exception
    assert shown(at.error[0].value).startswith(f"The portal cannot start: Cannot reach Supabase Storage at {down}")
    assert SERVICE_KEY not in at.error[0].value


class UnreachableReads(LocalBlobStore):
    """The real local store whose downloads fail as an unreachable Supabase Storage does."""

    def get(self, key: str) -> bytes:
        """Fail every download."""
        raise ServiceUnavailable("Cannot reach Supabase Storage at https://x.supabase.co: no connection.")


def test_an_analysis_worker_that_loses_storage_leaves_the_photo_pending(org_db: Database, tmp_path: Path) -> None:
    from portal.backend.photos.analysis import run_worker

    store = UnreachableReads(tmp_path / "blobs")
    intake = ingest(org_db, store, data=group_photo(["grace_hopper"]), filename="p.jpg", max_pixels=60_000_000)
    with pytest.raises(ServiceUnavailable, match="Cannot reach Supabase Storage"):
        run_worker(org_db, store, load_settings(env={}, secrets_path=None))
    with org_db.read() as conn:
        state = conn.execute(select(assets.c.analysis_state).where(assets.c.id == intake.asset.id)).scalar_one()
    assert state == "pending"  # not "failed": the next run, with Storage back, analyses it


def test_staff_add_gives_an_email_its_role(db: Database, tmp_path: Path) -> None:
    hosted = {
        "PORTAL_DATABASE_URL": db.url,
        "PORTAL_AUTH_BACKEND": "supabase",
        "SUPABASE_URL": "https://abc.supabase.co",
        "SUPABASE_ANON_KEY": ANON_KEY,
        "PORTAL_SECRET_KEY": SECRET,
    }
    added = _cli("staff", "add", "Boss@Example.org", "--name", "The Boss", "--role", "admin", env=hosted, cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    assert "boss@example.org is now admin" in added.stdout and "invite it there" in added.stdout
    embedded = _cli(
        "staff",
        "add",
        "desk@example.org",
        "--name",
        "Desk",
        "--role",
        "staff",
        "--password-stdin",
        env={"PORTAL_DATABASE_URL": db.url},
        cwd=tmp_path,
        stdin="a-long-password\n",
    )
    assert embedded.returncode == 0, embedded.stderr
    with db.read() as conn:
        rows = dict(conn.execute(select(staff_users.c.email, staff_users.c.password_hash)).all())
    assert rows["boss@example.org"] is None and rows["desk@example.org"].startswith("scrypt$")
    settings = load_settings(env={}, secrets_path=None)
    assert sign_in(settings, db, email="desk@example.org", password="a-long-password").user.role == "staff"
