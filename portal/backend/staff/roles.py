"""The one check every service makes before acting: does this actor hold the role the action needs."""

from __future__ import annotations

from portal.backend.platform.actors import Actor
from portal.backend.platform.errors import AuthError

_WHO = {"staff": "staff members", "manager": "managers", "admin": "admins"}


def require(actor: Actor, role: str, *, to: str) -> None:
    """AuthError unless `actor` holds at least `role` (operators on the CLI and the system always do)."""
    if not actor.can(role):
        acting = f"the role {actor.role}" if actor.kind == "staff" else f"a {actor.kind}, not a staff account"
        raise AuthError(f"Only {_WHO.get(role, role)} (or higher roles) may {to}; you act with {acting}.")
