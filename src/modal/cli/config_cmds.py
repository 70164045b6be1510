"""`modal config show | set-environment`: the effective configuration (secrets masked)."""

from __future__ import annotations

import json

import click


@click.group(name="config")
def config_cli() -> None:
    """Show and change the Modal configuration."""


@config_cli.command(name="show")
def show() -> None:
    """Print the effective configuration (file, profile and environment combined) as JSON.
    The token secret is masked: it is never printed."""
    from modal.config import config

    click.echo(json.dumps(config.to_dict(masked=True), indent=2, default=str, ensure_ascii=False))


@config_cli.command(name="set-environment")
@click.argument("environment_name")
def set_environment(environment_name: str) -> None:
    """Make ENVIRONMENT_NAME the active profile's default environment."""
    from modal.config import _active_profile, _store_user_config

    _store_user_config({"environment": environment_name})
    click.echo(f"New default environment for profile {_active_profile()!r}: {environment_name}")
