"""Read models of the staff domain: accounts as typed values."""

from __future__ import annotations

from portal.backend.platform.actors import Actor
from portal.backend.platform.errors import AuthError
from portal.backend.platform.organisation import Organisation, get_organisation
from portal.backend.platform.runtime import Portal
from portal.backend.staff.accounts import StaffUser, get_user_by_email, list_users

__all__ = ["Organisation", "StaffUser", "list_staff", "organisation", "staff_actor"]


def staff_actor(portal: Portal, *, email: str) -> Actor:
    """The Actor of the active staff account with this e-mail; AuthError names what is wrong."""
    with portal.db.read() as conn:
        user = get_user_by_email(conn, email)
    if not user.active:
        raise AuthError(f"The staff account {user.email} is deactivated; it cannot act.")
    return user.as_actor()


def list_staff(portal: Portal) -> list[StaffUser]:
    """Every staff account, active or not."""
    with portal.db.read() as conn:
        return list_users(conn)


def organisation(portal: Portal) -> Organisation:
    """The organisation's settings: controller, contacts, consent rules, languages."""
    with portal.db.read() as conn:
        return get_organisation(conn)
