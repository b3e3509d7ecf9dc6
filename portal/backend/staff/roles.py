"""The one check every service makes before acting: does this actor hold the role the action needs."""

from __future__ import annotations

from portal.backend.platform.actors import Actor
from portal.backend.platform.errors import AuthError


def require(actor: Actor, role: str, *, to: str) -> None:
    """AuthError unless `actor` holds at least `role` (operators on the CLI and the system always do)."""
    if not actor.can(role):
        who = f"a {actor.role}" if actor.kind == "staff" and actor.role else f"a {actor.kind}"
        raise AuthError(f"Only a {role} or above may {to}; you are acting as {who}. Ask an admin.")
