"""`broadsheet user …`: create accounts (the first admin), set roles, issue API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from broadsheet.community import accounts, repository
from broadsheet.db import unit_of_work
from broadsheet.errors import BroadsheetError
from broadsheet.models import User

user_app = typer.Typer(
    help="Manage accounts: create users and admins, set roles, issue API tokens.", no_args_is_help=True
)
console = Console(stderr=True)


def _factory():  # type: ignore[no-untyped-def]
    from broadsheet.cli import load_settings, session_factory

    return session_factory(load_settings())


def _user(session, email: str) -> User:  # type: ignore[no-untyped-def]
    user = repository.user_by_email(session, accounts.normalize_email(email))
    if user is None:
        raise BroadsheetError(f"no account with email {email}", 404)
    return user


def _fail(error: BroadsheetError) -> None:
    console.print(f"[red]{error.message}[/red]")
    raise typer.Exit(1)


@user_app.command("create")
def create(
    email: Annotated[str, typer.Argument(help="The account's email address.")],
    name: Annotated[str | None, typer.Option(help="User name (default: the part of the email before @).")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make this user an admin.")] = False,
    curator: Annotated[bool, typer.Option("--curator", help="Make this user a curator.")] = False,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Asked for when not given.")
    ] = "",
) -> None:
    """Create an account; `broadsheet user create --admin EMAIL` makes the first admin."""
    role = "admin" if admin else "curator" if curator else "user"
    handle = name or accounts.normalize_email(email).split("@", 1)[0]
    try:
        with unit_of_work(_factory()) as session:
            user = accounts.create_user(session, email=email, name=handle, password=password, role=role)
            console.print(f"Created {user.role} {user.name} <{user.email}>")
    except BroadsheetError as error:
        _fail(error)


@user_app.command("role")
def set_role(
    email: Annotated[str, typer.Argument(help="The account's email address.")],
    role: Annotated[str, typer.Argument(help="user, curator or admin.")],
) -> None:
    """Change a user's role."""
    try:
        with unit_of_work(_factory()) as session:
            user = accounts.set_role(session, _user(session, email), role)
            console.print(f"{user.name} is now {user.role}")
    except BroadsheetError as error:
        _fail(error)


@user_app.command("token")
def create_token(
    email: Annotated[str, typer.Argument(help="The account's email address.")],
    label: Annotated[str, typer.Option(help="A name to recognise the token by.")] = "cli",
) -> None:
    """Issue a personal API token (printed once on stdout)."""
    try:
        with unit_of_work(_factory()) as session:
            raw, _ = accounts.create_api_token(session, _user(session, email), label)
    except BroadsheetError as error:
        _fail(error)
    typer.echo(raw)
