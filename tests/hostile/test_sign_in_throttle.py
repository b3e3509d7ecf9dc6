"""Hostile sign-in: password guessing is throttled per typed e-mail with backoff, every attempt costs the same work
(no account can be probed by timing), and control characters in the e-mail are refused before the database sees
them. Both databases."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.schema import audit_log, staff_users
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, ValidationError
from portal.backend.staff import accounts as accounts_module
from portal.backend.staff.accounts import (
    THROTTLE_AFTER,
    THROTTLE_BASE,
    authenticate,
    create_user,
    sign_in_key,
    throttled_until,
)
from portal.backend.staff.audit import audit_count


def _account(db: Database, email: str = "ann@example.org", password: str = "right password 1") -> None:
    with db.write() as conn:
        create_user(conn, email=email, display_name="Ann", role="staff", password=password, now=utcnow())


def test_sign_in_is_throttled_per_e_mail_with_backoff_and_reopens(org_db: Database) -> None:
    """Today 15 wrong passwords are followed by a successful one; now the sixth try is refused without the password
    being checked, for a time that doubles with every further failure, and the right password works once it ends."""
    _account(org_db)
    t0 = utcnow()
    for i in range(THROTTLE_AFTER):
        with pytest.raises(AuthError, match="E-mail or password is wrong"):
            authenticate(org_db, email="ann@example.org", password=f"guess {i}", now=t0 + timedelta(seconds=i))
    locked_at = t0 + timedelta(seconds=THROTTLE_AFTER)
    with pytest.raises(AuthError, match="Too many failed sign-ins"):  # even the right password
        authenticate(org_db, email="ann@example.org", password="right password 1", now=locked_at)
    # After the first lock (1 minute) one more failure locks it for twice as long.
    later = locked_at + THROTTLE_BASE
    with pytest.raises(AuthError, match="E-mail or password is wrong"):
        authenticate(org_db, email="ann@example.org", password="guess again", now=later)
    with pytest.raises(AuthError, match="try again in 2 minute"):
        authenticate(org_db, email="ann@example.org", password="right password 1", now=later + timedelta(seconds=1))
    # Another account is not affected, and the throttled one opens again after the backoff.
    _account(org_db, "bob@example.org")
    assert authenticate(org_db, email="bob@example.org", password="right password 1", now=later).email
    user = authenticate(org_db, email="ann@example.org", password="right password 1", now=later + 2 * THROTTLE_BASE)
    assert user.email == "ann@example.org"
    with org_db.read() as conn:
        assert audit_count(conn, action="sign_in_throttled") == 2
        assert throttled_until(conn, sign_in_key("ann@example.org"), later + 2 * THROTTLE_BASE) is None


def test_unknown_e_mails_are_throttled_alike_so_the_lock_reveals_no_account(org_db: Database) -> None:
    t0 = utcnow()
    for i in range(THROTTLE_AFTER):
        with pytest.raises(AuthError, match="E-mail or password is wrong"):
            authenticate(org_db, email="ghost@example.org", password="pw", now=t0 + timedelta(seconds=i))
    with pytest.raises(AuthError, match="Too many failed sign-ins"):
        authenticate(org_db, email="Ghost@Example.org ", password="pw", now=t0 + timedelta(seconds=10))
    with org_db.read() as conn:
        stored = " ".join(str(v) for r in conn.execute(select(audit_log)).all() for v in r)
    assert "ghost" not in stored.lower()  # typed addresses are kept as a hash only


def test_every_failure_costs_one_scrypt_and_a_correct_sign_in_is_not_slowed(
    org_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown e-mails used to cost two scrypt runs (measurably slower) and disabled accounts none; now every
    attempt costs exactly one, and a correct sign-in after a few failures costs one too."""
    _account(org_db)
    with org_db.write() as conn:
        create_user(conn, email="off@example.org", display_name="Off", role="staff", password="x" * 12, now=utcnow())
        create_user(conn, email="hosted@example.org", display_name="H", role="staff", password=None, now=utcnow())
        conn.execute(update(staff_users).where(staff_users.c.email == "off@example.org").values(active=False))
    accounts_module._dummy_hash()  # computed once per process, before the first attempt counts
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: object, **kwargs: object) -> bytes:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(accounts_module.hashlib, "scrypt", counting)
    for email, password in [
        ("nobody@example.org", "whatever pw"),
        ("ann@example.org", "wrong password"),
        ("off@example.org", "x" * 12),
        ("hosted@example.org", "anything at all"),
    ]:
        calls.clear()
        with org_db.read() as conn:
            before = audit_count(conn)
        with pytest.raises(AuthError, match="E-mail or password is wrong"):
            authenticate(org_db, email=email, password=password)
        with org_db.read() as conn:
            assert (len(calls), audit_count(conn) - before) == (1, 1), email
    calls.clear()
    assert authenticate(org_db, email="ann@example.org", password="right password 1").email == "ann@example.org"
    assert len(calls) == 1


@pytest.mark.parametrize("email", ["ann@example.org\x00' OR 1=1 --", "ann@example.org\n", "\x1b[2Jann@example.org"])
def test_control_characters_in_the_sign_in_e_mail_are_refused_plainly(org_db: Database, email: str) -> None:
    _account(org_db)
    with pytest.raises(ValidationError, match="control character") as caught:
        authenticate(org_db, email=email, password="right password 1")
    assert "SELECT" not in str(caught.value) and "password_hash" not in str(caught.value)
    with org_db.read() as conn:
        assert audit_count(conn) == 0  # refused before the database was asked anything
