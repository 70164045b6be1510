"""`modal token new | set | list | revoke`: the tokens that let a user reach a Nodal server.

A token is an id (`ak-…`) and a secret (`as-…`). The secret is shown once, when the token is
made, and kept in the profile (`~/.modal.toml`, owner-only) next to the server it is for
(`server_url`, `server_ca`). The server stores only a hash of it.
"""

from __future__ import annotations

import os
from typing import Any

import click

from modal.cli.app_cmds import _iso, _print_json, _print_table, _rpc, _when


@click.group(name="token")
def token_cli() -> None:
    """Make, save, list and revoke tokens."""


def _effective_server(server_url: str | None, server_ca: str | None) -> tuple[str | None, str | None]:
    """The server a command talks to: the options given, else the active profile's (env wins).
    A `server_url` given without `server_ca` trusts the system's roots, not the profile's CA."""
    from modal.config import config

    url = server_url or config.get("server_url")
    ca = server_ca if server_url else (server_ca or config.get("server_ca"))
    if ca:
        ca = os.path.abspath(os.path.expanduser(ca))
    return (str(url) if url else None), ca


def _open_client(server_url: str | None, server_ca: str | None, token_id: str | None, token_secret: str | None) -> Any:
    """A connected client of `server_url` (the local server when None) with these credentials."""
    from modal.client import Client, _socket_for_env

    if server_url:
        address, autostart = server_url, False
    else:
        address, autostart = _socket_for_env()
    client = Client(address, autostart=autostart, token_id=token_id, token_secret=token_secret, server_ca=server_ca)
    _rpc(client._connect())
    return client


def _close(client: Any) -> None:
    _rpc(client._close())


def _check_ca_file(path: str | None) -> None:
    if path and not os.path.isfile(path):
        raise click.BadParameter(f"{path} is not a file; give the server's CA file (its $NODAL_HOME/tls/ca.pem)",
                                 param_hint="--server-ca")


def _save(profile: str, settings: dict[str, Any], activate: bool) -> None:
    from modal.config import _store_user_config

    _store_user_config(settings, profile=profile, active_profile=profile if activate else None)


@token_cli.command(name="new")
@click.option("--profile", default=None, help="Profile to save the token in (default: the token's workspace name).")
@click.option("--workspace", default="", help="Workspace of the token (default: yours; another needs a server admin).")
@click.option("--user", default="", help="User the token is for (default: you).")
@click.option("--admin", is_flag=True, help="Make the token an admin of its workspace (admins only).")
@click.option("--label", default="", help="A note to recognise the token by in `modal token list`.")
@click.option("--activate/--no-activate", default=True, help="Make the profile the active one (default: yes).")
@click.option("--print", "print_only", is_flag=True, help="Print the token once instead of saving it (to hand it on).")
def new(profile: str | None, workspace: str, user: str, admin: bool, label: str, activate: bool, print_only: bool) -> None:
    """Create a token on the server the active profile points at, and save it in a profile."""
    from modal.client import Client
    from modal.config import _config_path
    from nodal.proto import api_pb2

    server_url, server_ca = _effective_server(None, None)
    req = api_pb2.TokenCreateRequest(workspace=workspace, user=user, admin=admin, label=label)
    resp = _rpc(Client.from_env().stub.TokenCreate(req))
    who = f"{resp.user}@{resp.workspace}" + (" (admin)" if resp.admin else "")
    if print_only:
        click.echo(f"Token for {who}; the secret is shown only now:")
        click.echo(f"  token_id:     {resp.token_id}")
        click.echo(f"  token_secret: {resp.token_secret}")
        click.echo("Save it where it will be used with:")
        click.echo(f"  modal token set --token-id {resp.token_id} --token-secret {resp.token_secret}"
                   + _server_hint(server_url, server_ca))
        return
    profile = profile or resp.workspace
    settings: dict[str, Any] = {"token_id": resp.token_id, "token_secret": resp.token_secret}
    if not server_url:  # the local server: the profile names its socket, the server the token is for
        from nodal import paths

        server_url = str(paths.socket_path())
    settings["server_url"] = server_url
    if server_ca:
        settings["server_ca"] = server_ca
    _save(profile, settings, activate)
    click.echo(f"Token {resp.token_id} for {who} saved in profile {profile!r} ({_config_path()})"
               + (", now the active profile" if activate else ""))


def _server_hint(server_url: str | None, server_ca: str | None) -> str:
    """The `--server-url/--server-ca` part of a `modal token set` line for another machine."""
    if server_url and not server_url.startswith(("/", "unix:")):
        hint = f" --server-url {server_url}"
        return hint + (f" --server-ca {server_ca}" if server_ca else "")
    from nodal import paths

    ca = paths.nodal_home() / "tls" / "ca.pem"
    return " --server-url https://HOST:PORT --server-ca " + (str(ca) if ca.exists() else "CA.pem")


@token_cli.command(name="set")
@click.option("--token-id", default=None, help="The token id (ak-…); default: the profile's.")
@click.option("--token-secret", default=None, help="The token secret (as-…); default: the profile's.")
@click.option("--profile", default=None,
              help="Profile to save in (default: the token's workspace name, else the active profile).")
@click.option("--server-url", default=None, help="The server: https://HOST:PORT (TLS) or a unix socket path.")
@click.option("--server-ca", default=None, help="PEM file of the CA the server's certificate chains to.")
@click.option("--activate/--no-activate", default=True, help="Make the profile the active one (default: yes).")
@click.option("--verify/--no-verify", default=True, help="Check the token with the server first (default: yes).")
def set_token(token_id: str | None, token_secret: str | None, profile: str | None, server_url: str | None,
              server_ca: str | None, activate: bool, verify: bool) -> None:
    """Save a token (and the server it is for) in a profile, after checking it with the server."""
    from modal.client import parse_server_url
    from modal.config import _active_profile, _config_path, config

    if bool(token_id) != bool(token_secret):
        raise click.UsageError("give both --token-id and --token-secret, or neither (to keep the profile's)")
    if server_url:
        parse_server_url(server_url)  # InvalidError for a malformed address, before anything is saved
    if server_ca:
        server_ca = os.path.abspath(os.path.expanduser(server_ca))
        _check_ca_file(server_ca)
    eff_url, eff_ca = _effective_server(server_url, server_ca)
    use_id = token_id or config.get("token_id")
    use_secret = token_secret or config.get("token_secret")
    workspace = None
    if verify:
        # "" = the system's roots: a --server-url given alone does not trust the profile's CA.
        client = _open_client(eff_url, eff_ca or ("" if server_url else None), use_id, use_secret)
        try:
            from nodal.proto import api_pb2

            who = _rpc(client.stub.WhoAmI(api_pb2.Empty()))
        finally:
            _close(client)
        workspace = who.workspace
        click.echo(f"Verified: {who.user}@{who.workspace}" + (" (admin)" if who.admin else "")
                   + f" on {eff_url or 'the local server'}")
    if profile is None:
        profile = workspace if (workspace and token_id) else _active_profile()
    settings: dict[str, Any] = {}
    if token_id:
        settings.update(token_id=token_id, token_secret=token_secret)
    if eff_url:
        settings["server_url"] = eff_url
    if eff_ca:
        settings["server_ca"] = eff_ca
    if not settings:
        raise click.UsageError("nothing to save: give --token-id/--token-secret, --server-url or --server-ca")
    _save(profile, settings, activate)
    click.echo(f"Saved to profile {profile!r} ({_config_path()})" + (", now the active profile" if activate else ""))


@token_cli.command(name="list")
@click.option("--all", "all_workspaces", is_flag=True, help="Tokens of every workspace (server admins).")
@click.option("--include-revoked", is_flag=True, help="Show revoked tokens too.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_tokens(all_workspaces: bool, include_revoked: bool, as_json: bool) -> None:
    """List the tokens of your workspace (never their secrets)."""
    from modal.client import Client
    from nodal.proto import api_pb2

    req = api_pb2.TokenListRequest(all_workspaces=all_workspaces, include_revoked=include_revoked)
    tokens = _rpc(Client.from_env().stub.TokenList(req)).tokens
    if as_json:
        _print_json([
            {"token_id": t.token_id, "workspace": t.workspace, "user": t.user, "admin": t.admin, "label": t.label,
             "created_at": _iso(t.created_at), "last_used_at": _iso(t.last_used_at),
             "revoked_at": _iso(t.revoked_at)}
            for t in tokens
        ])
        return
    rows = [
        [t.token_id, t.workspace, t.user, "yes" if t.admin else "", t.label, _when(t.created_at),
         _when(t.last_used_at) if t.last_used_at else "never", _when(t.revoked_at)]
        for t in tokens
    ]
    _print_table("Tokens", ["Token ID", "Workspace", "User", "Admin", "Label", "Created", "Last used", "Revoked"], rows)


@token_cli.command(name="revoke")
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke a token: the server refuses it from now on."""
    from modal.client import Client
    from modal.config import config
    from nodal.proto import api_pb2

    _rpc(Client.from_env().stub.TokenRevoke(api_pb2.TokenRevokeRequest(token_id=token_id)))
    click.echo(f"Revoked token {token_id}")
    if config.get("token_id") == token_id:
        click.echo("It was the active profile's token: set another with `modal token set`.", err=True)
