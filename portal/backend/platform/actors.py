"""Who does something: the one typed Actor every service takes, and the one way it is written into rows."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Literal

ActorKind = Literal["subject", "guardian", "staff", "kiosk", "system", "operator"]
ROLES = ("staff", "manager", "admin")


@dataclass(frozen=True)
class Actor:
    """A data subject, their guardian, a staff member (with role), a kiosk, the system, or an operator on the CLI.

    `ref` is what ledger, audit and outbox rows record; it is built here and nowhere else.
    """

    kind: ActorKind
    # subject: the subject id; staff and kiosk: the staff user's id; system: the job; operator: the OS user.
    id: str | None = None
    role: str | None = None
    name: str | None = None

    @property
    def ref(self) -> str:
        """The stored form: `subject`, `guardian`, `staff:3`, `operator:alice`, `system:jobs`."""
        if self.kind in ("subject", "guardian"):
            # The ledger row carries the subject id already; the actor says only who acted for them.
            return self.kind
        if self.kind in ("staff", "kiosk"):
            return f"staff:{self.id}"
        return f"{self.kind}:{self.id}" if self.id else self.kind

    @property
    def staff_id(self) -> int | None:
        """The staff user's id when a staff member (or their kiosk) acts, else None."""
        return int(self.id) if self.kind in ("staff", "kiosk") and self.id is not None else None

    def can(self, role: str) -> bool:
        """True when this actor is a staff member with at least `role`; operators on the CLI may do everything."""
        if self.kind == "operator" and self.id is not None and self.role is None:
            return True
        if self.kind == "system":
            return True
        if self.kind != "staff" or self.role not in ROLES:
            return False
        return ROLES.index(self.role) >= ROLES.index(role)

    @classmethod
    def subject(cls, subject_id: str) -> Actor:
        """The data subject themselves (their personal link, the QR form)."""
        return cls(kind="subject", id=subject_id)

    @classmethod
    def guardian(cls, subject_id: str, name: str | None = None) -> Actor:
        """A parent or guardian acting for a child."""
        return cls(kind="guardian", id=subject_id, name=name)

    @classmethod
    def staff(cls, user_id: int, role: str, name: str | None = None) -> Actor:
        """A signed-in staff member (or an operator who named their staff identity with --as)."""
        return cls(kind="staff", id=str(user_id), role=role, name=name)

    @classmethod
    def kiosk(cls, staff_id: int) -> Actor:
        """A person filling in the form on the tablet a staff member started as a kiosk."""
        return cls(kind="kiosk", id=str(staff_id))

    @classmethod
    def system(cls, job: str | None = None) -> Actor:
        """The portal itself (daily jobs, the demo)."""
        return cls(kind="system", id=job)

    @classmethod
    def operator(cls, user: str | None = None) -> Actor:
        """Whoever runs the admin CLI on the server, by their OS user name."""
        if user is None:
            try:
                user = getpass.getuser()
            except (KeyError, OSError):
                user = "unknown"
        return cls(kind="operator", id=user[:80])
