"""Staff accounts: scrypt hashes, sign-in, roles and the audit log."""

from __future__ import annotations

import pytest

from portal.backend.ops.demo import DEMO_ACCOUNTS
from portal.backend.platform.db.engine import Database
from portal.backend.platform.db.types import utcnow
from portal.backend.platform.errors import AuthError, ValidationError
from portal.backend.staff.accounts import (
    DEMO_EMAILS,
    authenticate,
    create_user,
    hash_password,
    verify_password,
)
from portal.backend.staff.audit import audit_count


def test_hashes_are_salted_and_verify() -> None:
    a, b = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert a != b and a.startswith("scrypt$")
    assert verify_password("correct horse battery", a)
    assert not verify_password("Correct horse battery", a)
    assert not verify_password("x", "garbage") and not verify_password("x", None)


def test_sign_in_and_roles(org_db: Database) -> None:
    with org_db.write() as conn:
        create_user(
            conn, email="Boss@Example.org", display_name="Boss", role="manager", password="long enough pw", now=utcnow()
        )
        with pytest.raises(ValidationError, match="at least 10"):
            create_user(conn, email="x@example.org", display_name="X", role="staff", password="short", now=utcnow())
        with pytest.raises(ValidationError, match="Role"):
            create_user(
                conn, email="y@example.org", display_name="Y", role="root", password="long enough pw", now=utcnow()
            )
    user = authenticate(org_db, email="boss@example.org ", password="long enough pw")
    assert user.role == "manager" and user.can("staff") and user.can("manager") and not user.can("admin")
    with pytest.raises(AuthError, match="E-mail or password is wrong"):
        authenticate(org_db, email="boss@example.org", password="wrong password")
    with pytest.raises(AuthError, match="E-mail or password is wrong"):
        authenticate(org_db, email="nobody@example.org", password="long enough pw")
    with org_db.read() as conn:
        assert audit_count(conn, action="sign_in") == 1
        # An unknown e-mail leaves the same trace as a wrong password (the throttle counts both).
        assert audit_count(conn, action="sign_in_failed") == 2


def test_demo_e_mails_match_the_demo_accounts() -> None:
    assert {email for email, *_ in DEMO_ACCOUNTS} == DEMO_EMAILS
