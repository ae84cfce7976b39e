"""`odmflow user add`: accounts of the WebODM API, in the database `odmflow serve` uses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from .settings import Settings

app = typer.Typer(help="Accounts of the WebODM API (/api/token-auth/).", no_args_is_help=True)


async def add_user(data_dir: Path, username: str, password: str, update: bool = False) -> bool:
    """Create the user (or, with `update`, set an existing user's password); True if created."""
    from nodeodm_api.webodm.auth import hash_password
    from nodeodm_api.webodm.db import Database, database_url
    from nodeodm_api.webodm.records import Records, UserExists

    db = Database(database_url(data_dir))
    await db.open()
    try:
        records = Records(db)
        hashed = hash_password(password)
        try:
            await records.add_user(username, hashed)
            return True
        except UserExists:
            if not update:
                raise
            await records.set_password(username, hashed)
            return False
    finally:
        await db.close()


@app.command("add")
def add(
    username: Annotated[str, typer.Argument(help="The login name.")],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          help="The password (asked for when left out).")],
    data_dir: Annotated[Path | None, typer.Option(help="The data folder of `odmflow serve`.")] = None,
    update: Annotated[bool, typer.Option("--update", help="Set the password of an existing user.")] = False,
) -> None:
    """Create a user who can get a token at POST /api/token-auth/."""
    from nodeodm_api.webodm.records import UserExists

    if not username.strip() or not password:
        raise typer.BadParameter("username and password may not be blank")
    folder = data_dir or Settings().data_dir  # type: ignore[call-arg]  # read from ODMFLOW_* variables
    folder.mkdir(parents=True, exist_ok=True)
    try:
        created = asyncio.run(add_user(folder, username, password, update))
    except UserExists as exc:
        typer.echo(f"{exc}; use --update to change its password", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{'Created' if created else 'Updated'} user {username} in {folder}")
