"""A real SMTP server for tests: aiosmtpd on 127.0.0.1 and a free port, keeping what it receives."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mailbox:
    """What the server received; `refuse` makes it answer every DATA with that SMTP reply instead."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)
    refuse: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message (or refuse it)."""
        if self.refuse:
            return self.refuse
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def env(self) -> dict[str, str]:
        """PORTAL_SMTP_* settings pointing at this server."""
        return {
            "PORTAL_SMTP_HOST": "127.0.0.1",
            "PORTAL_SMTP_PORT": str(self.port),
            "PORTAL_SMTP_FROM": "Photo consent <consent@example.org>",
            "PORTAL_SMTP_SECURITY": "none",
        }

    def settings(self) -> dict[str, object]:
        """The same as keyword overrides for load_settings / make_portal."""
        return {"smtp_host": "127.0.0.1", "smtp_port": self.port, "smtp_from": self.env()["PORTAL_SMTP_FROM"],
                "smtp_security": "none"}  # fmt: skip

    def to(self, address: str) -> list[EmailMessage]:
        """The messages received for one address."""
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """A local SMTP server for one test."""
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


def text_part(message: EmailMessage) -> str:
    """The plain-text body of a received message."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_part(message: EmailMessage) -> str:
    """The HTML body of a received message."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())
