"""`pixcept tokens`: named tokens with a role (reader, editor, admin): list, create, revoke."""

from __future__ import annotations

import click

from ..accounts import ROLES
from .backend import open_backend
from .common import echo_listing, library_options, settings_of


@click.group("tokens", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True)
@library_options
@click.pass_context
def tokens(ctx, as_json, **params) -> None:
    """Named tokens: `create NAME --role reader|editor|admin [--folder F]...`, `revoke ID`. Without a command, lists
    them."""
    ctx.obj = settings_of(params)
    if ctx.invoked_subcommand is not None:
        return
    with open_backend(ctx.obj, "pixcept tokens") as backend:
        found = backend.accounts()
    echo_listing(found, as_json, "No named tokens: `pixcept tokens create NAME --role reader` makes one.",
                 lambda a: f"{a['id']}  {a['name']}  {a['role']}  {'active' if a['active'] else 'revoked'}  "
                           f"{'folders: ' + ', '.join(a['folders']) if a['folders'] else 'every folder'}  "
                           f"(made {a['created_at']} by {a['created_by']}, last used {a['last_used_at'] or 'never'})")


@tokens.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--folder", "folders", multiple=True, type=click.Path(file_okay=False),
              help="Limit the token to this indexed folder (repeat for several): it sees nothing else.")
@click.pass_obj
def create(settings, name, role, folders) -> None:
    """Make a token NAME with ROLE; prints the token (kept only as a hash: copy it now)."""
    with open_backend(settings, "pixcept tokens create") as backend:
        made = backend.account_create(name, role, folders)
    where = f", limited to {', '.join(made['folders'])}" if made["folders"] else ""
    click.echo(f"Token {made['id']} for {made['name']!r} ({made['role']}{where}) made; it is shown this once:",
               err=True)
    click.echo(made["token"])


@tokens.command("revoke")
@click.argument("account_id")
@click.pass_obj
def revoke(settings, account_id) -> None:
    """Revoke the token ACCOUNT_ID: it and its browser sessions open nothing from now on."""
    with open_backend(settings, "pixcept tokens revoke") as backend:
        backend.account_revoke(account_id)
    click.echo(f"Token {account_id} revoked.")
