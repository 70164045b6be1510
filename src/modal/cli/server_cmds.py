"""`modal server start | stop | status | rotate-key | audit`: the Nodal server for this NODAL_HOME.

`start --listen HOST:PORT` also serves over TCP with TLS (for other machines; every call there
needs a token). At first start the server mints an admin token; `start` prints it once.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click


def _hello(socket: str) -> Any | None:
    """The server's HelloResponse over its socket, or None when it does not answer."""
    from modal import __version__
    from modal._utils.async_utils import run_sync
    from modal.client import Client
    from nodal.proto import api_pb2

    client = Client(f"unix://{socket}", autostart=False)

    async def hello() -> Any:
        try:
            await client._connect()
            return await client.stub.Hello(api_pb2.HelloRequest(client_version=__version__), timeout=5)
        finally:
            await client._close()

    try:
        return run_sync(hello())
    except Exception:  # noqa: BLE001 - any failure means "not answering"
        return None


@click.group(name="server")
def server_cli() -> None:
    """Run the local Nodal server (started automatically when first needed)."""


@server_cli.command(name="start")
@click.option("--foreground", is_flag=True, help="Run in this terminal instead of as a background daemon.")
@click.option(
    "--gpu-fallback",
    type=click.Choice(["cpu", "queue"]),
    default=None,
    help="What a function gets when it asks for a GPU type this server lacks: run on CPU with a "
    "warning (cpu, the default) or wait for one until its timeout (queue). Env: NODAL_GPU_FALLBACK.",
)
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Also serve over TCP with TLS on HOST:PORT (e.g. 0.0.0.0:7443). Env: NODAL_LISTEN.")
@click.option("--tls-cert", default=None, type=click.Path(dir_okay=False),
              help="PEM certificate (chain) for --listen; default: one signed by the server's own CA. "
              "Env: NODAL_TLS_CERT.")
@click.option("--tls-key", default=None, type=click.Path(dir_okay=False),
              help="The key of --tls-cert. Env: NODAL_TLS_KEY.")
@click.option("--tls-san", multiple=True, metavar="NAME",
              help="Extra DNS name or IP address for the generated certificate (repeatable). Env: NODAL_TLS_SAN.")
@click.option("--config", "config_file", default=None, type=click.Path(dir_okay=False), metavar="PATH",
              help="Server settings file (TOML; default $NODAL_HOME/server.toml). Env: NODAL_SERVER_CONFIG.")
@click.option("--database-url", default=None, metavar="URL",
              help="Metadata store: postgresql://user:password@host:5432/db (default: SQLite in NODAL_HOME). "
              "Env: NODAL_DATABASE_URL.")
@click.option("--blob-url", default=None, metavar="URL",
              help="Blob store: an absolute directory or s3://BUCKET[/PREFIX] (default: $NODAL_HOME/blobs). "
              "Env: NODAL_BLOB_URL.")
@click.option("--s3-endpoint-url", default=None, metavar="URL",
              help="S3-compatible server for an s3:// --blob-url (MinIO, Ceph). Env: NODAL_S3_ENDPOINT_URL.")
@click.option("--runtime", default=None, type=click.Choice(["local", "ray"]),
              help="Where containers run: this host (local, the default) or a Ray cluster. Env: NODAL_RUNTIME.")
@click.option("--ray-address", default=None, metavar="HOST:PORT",
              help="The Ray cluster for --runtime ray. Env: NODAL_RAY_ADDRESS.")
def start(foreground: bool, gpu_fallback: str | None, listen: str | None, tls_cert: str | None,
          tls_key: str | None, tls_san: tuple[str, ...], **settings: str | None) -> None:
    """Start the server for this NODAL_HOME (a daemon unless --foreground)."""
    from nodal import paths
    from nodal.server import daemon

    if gpu_fallback:
        os.environ["NODAL_GPU_FALLBACK"] = gpu_fallback
    _export_tls_options(listen, tls_cert, tls_key, tls_san)
    _export_settings(settings)

    pid = daemon.server_pid()
    if pid is not None:
        click.echo(f"Nodal server already running (pid {pid}, socket {paths.socket_path()})")
        _announce_initial_token()
        return
    if foreground:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, [sys.executable, "-m", "nodal.server"])
    try:
        pid = daemon.start_daemon()
    except RuntimeError as exc:
        raise click.ClickException(f"{exc}{_last_log_line()}") from None
    click.echo(f"Nodal server started (pid {pid}, socket {paths.socket_path()})")
    from nodal.server.gateway.server import gateway_url_path

    if gateway_url_path().exists():
        click.echo(f"Web endpoints gateway: {gateway_url_path().read_text().strip()}")
        from nodal.server.dashboard.auth import read_secret

        if read_secret():  # the owner's login link (the secret file is readable only by the owner)
            click.echo(f"Dashboard: {gateway_url_path().read_text().strip()}/_nodal/login?token={read_secret()}")
    click.echo(f"State in {paths.nodal_home()}; server log: {paths.server_log_path()}")
    _announce_listener()
    _announce_initial_token()


def _last_log_line() -> str:
    """The server log's last line (why a daemon that just exited stopped), for the error message."""
    from nodal import paths

    try:
        lines = [ln for ln in paths.server_log_path().read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return f"\n  {lines[-1].strip()}" if lines else ""


_SETTING_ENVS = {"database_url": "NODAL_DATABASE_URL", "blob_url": "NODAL_BLOB_URL",
                 "s3_endpoint_url": "NODAL_S3_ENDPOINT_URL", "runtime": "NODAL_RUNTIME",
                 "ray_address": "NODAL_RAY_ADDRESS"}


def _export_settings(settings: dict[str, str | None]) -> None:
    """Hand --config and the storage/runtime flags to the daemon through its environment (a flag wins
    over the variable, which wins over the file), after checking the file so its errors show here."""
    from nodal.server.config import CONFIG_ENV, ServerConfigError, load_server_config

    config_file = settings.pop("config_file", None)
    if config_file:
        os.environ[CONFIG_ENV] = os.path.abspath(config_file)
    for name, value in settings.items():
        if value:
            os.environ[_SETTING_ENVS[name]] = value
    try:
        load_server_config()
    except ServerConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _export_tls_options(listen: str | None, cert: str | None, key: str | None, sans: tuple[str, ...]) -> None:
    """Hand the TCP/TLS options to the daemon through its environment (NODAL_LISTEN, ...)."""
    if listen:
        host, sep, port = listen.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise click.BadParameter(f"{listen!r} is not HOST:PORT (e.g. 0.0.0.0:7443)", param_hint="--listen")
        os.environ["NODAL_LISTEN"] = listen
    if bool(cert) != bool(key):
        raise click.UsageError("give --tls-cert and --tls-key together (a certificate and its key), or neither")
    if cert and key:
        from pathlib import Path

        from nodal.server.tls import TlsConfigError, check_operator_pair

        try:  # say what is wrong here rather than in the daemon's log
            check_operator_pair(Path(cert), Path(key))
        except TlsConfigError as exc:
            raise click.UsageError(str(exc)) from None
        os.environ["NODAL_TLS_CERT"] = os.path.abspath(cert)
        os.environ["NODAL_TLS_KEY"] = os.path.abspath(key)
    if sans:
        os.environ["NODAL_TLS_SAN"] = ",".join(s.strip() for s in sans if s.strip())


def _listen_url() -> str | None:
    """The https:// URL other machines use, from NODAL_LISTEN (a wildcard host → this host's name)."""
    listen = os.environ.get("NODAL_LISTEN")
    if not listen:
        return None
    import socket

    host, _, port = listen.rpartition(":")
    if host in ("0.0.0.0", "::", "[::]", ""):
        host = socket.gethostname()
    return f"https://{host}:{port}"


def _trusted_ca() -> str | None:
    """The file clients must trust for the TLS listener: the operator's certificate, else the CA
    the server made ($NODAL_HOME/tls/ca.pem)."""
    from nodal import paths

    if os.environ.get("NODAL_TLS_CERT"):
        return os.environ["NODAL_TLS_CERT"]
    ca = paths.nodal_home() / "tls" / "ca.pem"
    return str(ca) if ca.exists() else None


def _announce_listener() -> None:
    url = _listen_url()
    if url is None:
        return
    ca = _trusted_ca()
    click.echo(f"TLS listener: {url}")
    if ca:
        from nodal.server.tls import ca_fingerprint

        try:
            click.echo(f"  clients trust: {ca} (SHA-256 {ca_fingerprint(ca)})")
        except (OSError, ValueError):
            click.echo(f"  clients trust: {ca}")


def _announce_initial_token() -> None:
    """Print the admin token the server minted at its first start, once, and delete its file."""
    from nodal import paths

    path = paths.nodal_home() / "initial-admin-token"
    try:
        import tomllib

        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        click.echo(f"Could not read the initial admin token in {path}: {exc}", err=True)
        return
    token_id, token_secret = data.get("token_id", ""), data.get("token_secret", "")
    if not (token_id and token_secret):
        return
    click.echo("")
    click.echo('Initial admin token of workspace "default" (shown only now; save it):')
    click.echo(f"  token_id:     {token_id}")
    click.echo(f"  token_secret: {token_secret}")
    url, ca = _listen_url() or "https://HOST:PORT", _trusted_ca()
    line = f"  modal token set --token-id {token_id} --token-secret {token_secret} --server-url {url}"
    click.echo("On a machine that will use this server over TLS, run:")
    click.echo(line + (f" --server-ca {ca}" if ca else " --server-ca CA.pem"))
    click.echo("(On this machine the local socket needs no token.)")
    path.unlink(missing_ok=True)


@server_cli.command(name="stop")
def stop() -> None:
    """Stop the server for this NODAL_HOME (its containers stop with it)."""
    from nodal.server import daemon

    pid = daemon.server_pid()
    if pid is None or not daemon.stop_daemon():
        click.echo("No Nodal server is running")
        return
    click.echo(f"Nodal server stopped (pid {pid})")


@server_cli.command(name="status")
def status() -> None:
    """Show whether the server runs, and where; exit code 1 when it does not."""
    from nodal import paths
    from nodal.server import daemon

    pid = daemon.server_pid()
    home, socket = paths.nodal_home(), paths.socket_path()
    if pid is None:
        click.echo("Nodal server: not running")
        click.echo(f"  NODAL_HOME: {home}")
        click.echo("  Start it with: modal server start")
        click.get_current_context().exit(1)
    reply = _hello(str(socket))
    click.echo(f"Nodal server: {'running' if reply is not None else 'not answering'}")
    click.echo(f"  pid:        {pid}")
    click.echo(f"  socket:     {socket}")
    click.echo(f"  NODAL_HOME: {home}")
    if reply is not None:
        click.echo(f"  version:    {reply.server_version}")
        if reply.streams_tls_port:  # remote clients' and Ray nodes' hot streams (streams_listen)
            click.echo(f"  streams:    TLS port {reply.streams_tls_port}  (framed streams; NODAL_STREAMS_LISTEN)")
        from nodal.server.gateway.server import gateway_url_path

        if gateway_url_path().exists():
            click.echo(f"  web:        {gateway_url_path().read_text().strip()}  (gateway; NODAL_GATEWAY_PORT)")
            from nodal.server.dashboard.auth import read_secret

            dashboard_secret = read_secret()
            if dashboard_secret:  # the owner's login link (the file is readable only by the owner)
                click.echo(f"  dashboard:  {gateway_url_path().read_text().strip()}/_nodal/login?token={dashboard_secret}")
    click.echo(f"  log:        {paths.server_log_path()}")
    if reply is None:
        click.get_current_context().exit(1)


@server_cli.command(name="rotate-key")
def rotate_key() -> None:
    """Re-encrypt every stored secret under a new key (server admins)."""
    from modal.cli.app_cmds import _client, _rpc
    from nodal.proto import api_pb2

    resp = _rpc(_client().stub.SecretKeyRotate(api_pb2.Empty()))
    click.echo(f"Re-encrypted {resp.secrets_reencrypted} secret(s) under a new key"
               + (f" (key file: {resp.key_path})" if resp.key_path else ""))


@server_cli.command(name="audit")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000), help="Newest events to show.")
@click.option("--workspace", default="", help="Only this workspace's events (server admins see all by default).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def audit(limit: int, workspace: str, as_json: bool) -> None:
    """Show the audit log: tokens created/revoked, secrets changed, apps deployed/stopped."""
    from modal.cli.app_cmds import _client, _iso, _print_json, _print_table, _rpc, _when
    from nodal.proto import api_pb2

    events = _rpc(_client().stub.AuditList(api_pb2.AuditListRequest(limit=limit, workspace=workspace))).events
    if as_json:
        _print_json([
            {"ts": _iso(e.ts), "workspace": e.workspace, "actor": e.actor, "action": e.action,
             "target": e.target, "detail": e.detail}
            for e in events
        ])
        return
    rows = [[_when(e.ts), e.workspace, e.actor, e.action, e.target, e.detail] for e in events]
    _print_table("Audit log", ["Time", "Workspace", "Actor", "Action", "Target", "Detail"], rows)
