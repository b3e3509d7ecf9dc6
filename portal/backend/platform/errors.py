"""Errors a user or operator can cause, each with a message a person can act on."""

from __future__ import annotations


class PortalError(Exception):
    """Base of every error the portal reports to a person instead of crashing."""


class ConfigError(PortalError):
    """A setting is missing or unusable."""


class DatabaseUnavailable(PortalError):
    """The database cannot be reached or opened."""


class DatabaseBusy(DatabaseUnavailable):
    """Every database connection stayed in use for the whole wait: the portal is too busy right now; try again.

    Public pages say so in the visitor's language (i18n `error.busy`); the message itself is English."""


class ReceiptNotReady(PortalError):
    """A consent receipt whose files cannot be made yet (the consent stands; the daily jobs retry it)."""


class ValidationError(PortalError):
    """Input that the portal refuses, with the reason."""


class ImageRejected(ValidationError):
    """An upload that is not a usable image (broken, truncated, a bomb, too large, unsupported)."""


class SelfieRejected(ValidationError):
    """A selfie that gives no single face template; `reason` ("no_face", "many_faces") lets a public page say why in
    the visitor's language (the message itself is English, for staff and logs)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class NotFound(PortalError):
    """A subject, purpose, event or other record does not exist."""


class UnknownPurpose(NotFound):
    """A purpose code that the organisation does not have."""

    def __init__(self, code: str, known: list[str]) -> None:
        super().__init__(f"Unknown purpose {code!r}. Known purposes: {', '.join(known) or '(none)'}.")
        self.code = code


class UnknownSubject(NotFound):
    """A subject id that does not exist."""

    def __init__(self, subject_id: str) -> None:
        super().__init__(f"No subject with id {subject_id!r}.")
        self.subject_id = subject_id


class ConsentStateError(PortalError):
    """A consent change that does not fit the current state (e.g. withdrawing what was never given)."""


class GuardianRequired(ConsentStateError):
    """A child giving or renewing consent alone: below the age of digital consent a guardian must (Art. 8)."""


class LedgerTampered(PortalError):
    """The consent ledger's hash chain does not verify."""


class TokenError(PortalError):
    """A link or QR token that is forged, expired, revoked or malformed.

    `reason` names the case for the public pages, which say it in the visitor's language (i18n `token.<reason>`):
    damaged, invalid, expired, withdrawn, used, qr_unknown or qr_replaced. The message itself is English.
    """

    def __init__(self, message: str, *, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


class SubjectErased(TokenError):
    """A personal link of a person who has been erased: nothing is left to show, and no new link can be made."""

    def __init__(self, locale: str) -> None:
        super().__init__("The data behind this link has been erased.", reason="erased")
        # The person's language (kept after erasure, it identifies no one), to say so in their words.
        self.locale = locale


class AuthError(PortalError):
    """Sign-in failed or the account may not do this."""


class ServiceUnavailable(PortalError):
    """A hosted service (Supabase Storage or Auth) cannot be reached or is failing for now."""


class StorageError(PortalError):
    """The blob store refused or failed an operation (other than a missing blob, which is NotFound)."""


class SessionExpired(AuthError):
    """A staff sign-in that has run out or was ended elsewhere; the person signs in again."""


def database_refusal(exc: BaseException) -> str | None:
    """The first line of a database driver's refusal (a constraint, a lost connection), or None for other errors.

    Entry points catch everything a command can raise; this keeps them free of SQLAlchemy imports."""
    from sqlalchemy.exc import SQLAlchemyError

    if not isinstance(exc, SQLAlchemyError):
        return None
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0]


class FaceAlreadyLinked(PortalError):
    """Linking a face that staff already confirmed as someone else, without saying to move it."""

    def __init__(self, detection_id: int, subject_id: str, name: str) -> None:
        super().__init__(
            f"Face #{detection_id} is already confirmed as {name}. Confirm that it should move to the other person "
            "(on the CLI: --move)."
        )
        self.detection_id = detection_id
        self.subject_id = subject_id
        self.name = name


class PublishBlocked(PortalError):
    """Publishing a photo for a purpose that someone in it has not agreed to (or a face nobody has identified)."""

    def __init__(self, message: str, blockers: tuple[object, ...]) -> None:
        super().__init__(message)
        # The photos.publications.Blocker values: who blocks and why, for a page or command to list.
        self.blockers = blockers
