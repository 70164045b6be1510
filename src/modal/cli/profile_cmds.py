"""`modal profile list | activate | current`: the sections of `~/.modal.toml`.

A profile names a server (`server_url`, `server_ca`) and the token used there; one profile is
active (`active = true` in the file, or MODAL_PROFILE for one process).
"""

from __future__ import annotations

import click

from modal.cli.app_cmds import _print_json, _print_table


@click.group(name="profile")
def profile_cli() -> None:
    """Switch between profiles (servers and tokens) in the Modal config file."""


@profile_cli.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_profiles(as_json: bool) -> None:
    """List the profiles, marking the active one (no secrets are shown)."""
    from modal.config import _active_profile, _config_path, _read_user_config

    profiles = _read_user_config()
    active = _active_profile()
    items = [
        {
            "name": name,
            "active": name == active,
            "server_url": values.get("server_url") or None,
            "server_ca": values.get("server_ca") or None,
            "token_id": values.get("token_id") or None,
            "environment": values.get("environment") or None,
        }
        for name, values in profiles.items()
    ]
    if as_json:
        _print_json(items)
        return
    if not items:
        click.echo(f"No profiles in {_config_path()}; make one with `modal token new` or `modal token set`.")
        return
    rows = [
        ["•" if i["active"] else "", i["name"], i["server_url"] or "local server", i["token_id"] or "",
         i["environment"] or ""]
        for i in items
    ]
    _print_table("Profiles", ["Active", "Profile", "Server", "Token ID", "Environment"], rows)


@profile_cli.command(name="activate")
@click.argument("name")
def activate(name: str) -> None:
    """Make NAME the active profile (written to the config file)."""
    from modal.config import config_set_active_profile

    config_set_active_profile(name)  # NotFoundError names the file when there is no such profile
    click.echo(f"Profile {name!r} is now active")


@profile_cli.command(name="current")
def current() -> None:
    """Print the name of the active profile."""
    from modal.config import _active_profile

    click.echo(_active_profile())
