"""`storage check | init` (the blob store, Supabase Storage in hosted mode) and `staff add | list | role | disable |
enable | password | remove-demo` (portal accounts and roles)."""

from __future__ import annotations

import argparse
import getpass
import sys

from portal.backend.ops.services import check_storage, init_storage
from portal.backend.platform.actors import Actor
from portal.backend.platform.errors import ValidationError
from portal.backend.staff.queries import ROLES, list_staff
from portal.backend.staff.services import (
    add_staff,
    disable_staff,
    enable_staff,
    remove_demo_accounts,
    set_staff_password,
    set_staff_role,
)
from portal.cli.common import add_common, cli_actor, open_database, print_table, settings_for


def register(groups: argparse._SubParsersAction) -> None:
    """Add the storage and staff groups."""
    storage = groups.add_parser("storage", help="the blob store (Supabase Storage in hosted mode)").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    add_common(
        storage.add_parser("check", help="prove the blob store is reachable, the key works, the bucket private")
    ).set_defaults(handler=storage_check)
    add_common(
        storage.add_parser("init", help="create the private Supabase Storage bucket if it is missing")
    ).set_defaults(handler=storage_init)

    staff = groups.add_parser("staff", help="staff accounts and their portal roles").add_subparsers(
        dest="command", metavar="COMMAND", required=True
    )
    add = add_common(staff.add_parser("add", help="give an e-mail address a portal role (staff, manager, admin)"))
    add.add_argument("email")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="embedded mode: read the first password from standard input instead of prompting",
    )
    add.set_defaults(handler=staff_add)
    add_common(staff.add_parser("list", help="staff accounts and roles")).set_defaults(handler=staff_list)
    role = add_common(staff.add_parser("role", help="give an account another role"))
    role.add_argument("email")
    role.add_argument("--role", required=True, choices=ROLES)
    role.set_defaults(handler=staff_role)
    off = add_common(
        staff.add_parser(
            "disable",
            aliases=["deactivate"],
            help="disable an account: no sign-in, open sessions end on their next click (its history stays)",
        )
    )
    off.add_argument("email")
    off.set_defaults(handler=staff_deactivate)
    on = add_common(staff.add_parser("enable", help="enable a disabled account again"))
    on.add_argument("email")
    on.set_defaults(handler=staff_enable)
    pw = add_common(staff.add_parser("password", help="embedded mode: set a new password for an account"))
    pw.add_argument("email")
    pw.add_argument(
        "--password-stdin", action="store_true", help="read the new password from standard input instead of prompting"
    )
    pw.set_defaults(handler=staff_password)
    add_common(
        staff.add_parser("remove-demo", help="remove the demo accounts (public passwords) before real use")
    ).set_defaults(handler=staff_remove_demo)


def storage_check(args: argparse.Namespace) -> int:
    """Check the bucket; every problem comes back as a PortalError the CLI prints."""
    store = check_storage(settings_for(args), actor=Actor.operator())
    print(
        f"Supabase Storage at {store.url}: the bucket {store.bucket!r} is reachable with the service key and private."
    )
    return 0


def storage_init(args: argparse.Namespace) -> int:
    """Create the bucket as private (idempotent)."""
    created, store = init_storage(settings_for(args), actor=Actor.operator())
    if created:
        print(f"Created the private bucket {store.bucket!r} in Supabase Storage at {store.url}.")
    else:
        print(f"The bucket {store.bucket!r} already exists in Supabase Storage at {store.url} and is private.")
    return 0


def _password(args: argparse.Namespace, label: str = "First password") -> str:
    """A password for an embedded account, from stdin or a prompt."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise ValidationError(f"Give the {label.lower()} with --password-stdin (no terminal to prompt on).")
    first, again = getpass.getpass(f"{label}: "), getpass.getpass("Again: ")
    if first != again:
        raise ValidationError("The two passwords differ.")
    return first


def staff_add(args: argparse.Namespace) -> int:
    """Create an account; in hosted mode without a password (Supabase Auth checks it)."""
    portal = open_database(args)
    hosted = portal.settings.auth_backend == "supabase"
    password = None if hosted else _password(args)
    user = add_staff(
        portal, actor=cli_actor(portal, args), email=args.email, name=args.name, role=args.role, password=password
    )
    print(f"{user.email} is now {user.role} (account {user.id}).")
    if hosted:
        print(
            "Passwords live in Supabase Auth: if this address has no Supabase user yet, invite it there "
            "(Authentication, Users, Invite user)."
        )
    return 0


def staff_list(args: argparse.Namespace) -> int:
    """Print every account with its role."""
    users = list_staff(open_database(args))
    print_table(
        ["id", "e-mail", "name", "role", "active"],
        [[u.id, u.email, u.display_name, u.role, "yes" if u.active else "no"] for u in users],
    )
    return 0


def staff_role(args: argparse.Namespace) -> int:
    """Change an account's role."""
    portal = open_database(args)
    user = set_staff_role(portal, actor=cli_actor(portal, args), email=args.email, role=args.role)
    print(f"{user.email} is now {user.role} (account {user.id}).")
    return 0


def staff_deactivate(args: argparse.Namespace) -> int:
    """Disable an account."""
    portal = open_database(args)
    user = disable_staff(portal, actor=cli_actor(portal, args), email=args.email)
    print(f"{user.email} is disabled (account {user.id}); it can no longer sign in, and open sessions end.")
    return 0


def staff_enable(args: argparse.Namespace) -> int:
    """Enable an account again."""
    portal = open_database(args)
    user = enable_staff(portal, actor=cli_actor(portal, args), email=args.email)
    print(f"{user.email} is enabled again (account {user.id}, {user.role}).")
    return 0


def staff_password(args: argparse.Namespace) -> int:
    """Set a new password (embedded mode); the password is never printed or logged."""
    portal = open_database(args)
    if portal.settings.auth_backend == "supabase":
        raise ValidationError("Passwords live in Supabase Auth in hosted mode: reset it there.")
    password = _password(args, "New password")
    user = set_staff_password(portal, actor=cli_actor(portal, args), email=args.email, password=password)
    print(f"{user.email} has a new password (account {user.id}).")
    return 0


def staff_remove_demo(args: argparse.Namespace) -> int:
    """Remove the demo accounts."""
    portal = open_database(args)
    removed = remove_demo_accounts(portal, actor=cli_actor(portal, args))
    print(f"Removed the demo accounts: {', '.join(removed)}." if removed else "There are no demo accounts.")
    return 0
