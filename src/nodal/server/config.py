"""Server settings from an optional TOML file, under the environment variables that override it.

Every server setting is an environment variable (NODAL_LISTEN, NODAL_DATABASE_URL, ...) read by
the module that uses it. A file — `--config PATH` / NODAL_SERVER_CONFIG, else
`$NODAL_HOME/server.toml` when it exists — sets the same settings under short keys
(`listen`, `database_url`, ...). At start, `apply_server_config()` validates the file (unknown
keys and wrong types stop the server with a message listing what is valid) and exports each of
its settings whose variable is not already set: a variable (or a `modal server start` flag,
which sets one) wins over the file, and every module keeps reading its variable.
The table of settings here is the one docs/server-config.md documents.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

CONFIG_ENV = "NODAL_SERVER_CONFIG"
CONFIG_FILE_NAME = "server.toml"

log = logging.getLogger("nodal.server.config")


@dataclass(frozen=True)
class Setting:
    """One server setting: its file key, environment variable, value kind and meaning."""

    key: str
    env: str
    kind: str  # "str", "int", "number", "list" (of strings; exported comma-separated), "choice"
    default: str
    help: str
    choices: tuple[str, ...] = ()
    flag: str = ""
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    # where the server listens
    Setting("listen", "NODAL_LISTEN", "str", "(unix socket only)",
            "Also serve over TCP with TLS on HOST:PORT (for other machines; calls need a token).", flag="--listen"),
    Setting("tls_cert", "NODAL_TLS_CERT", "str", "(a certificate signed by the server's own CA)",
            "PEM certificate (chain) for the TLS listener.", flag="--tls-cert"),
    Setting("tls_key", "NODAL_TLS_KEY", "str", "(generated with the certificate)",
            "The private key of tls_cert.", flag="--tls-key"),
    Setting("tls_san", "NODAL_TLS_SAN", "list", "(none)",
            "Extra DNS names / IP addresses for the generated certificate.", flag="--tls-san"),
    Setting("streams_listen", "NODAL_STREAMS_LISTEN", "str", "(the listen port + 1)",
            "Where the hot streams are served framed over TLS beside `listen`: PORT, HOST:PORT, or off."),
    # storage
    Setting("database_url", "NODAL_DATABASE_URL", "str", "SQLite at $NODAL_HOME/nodal.db",
            "Metadata store: postgresql://user:password@host:5432/dbname for PostgreSQL.",
            flag="--database-url", secret=True),
    Setting("blob_url", "NODAL_BLOB_URL", "str", "$NODAL_HOME/blobs",
            "Blob store: an absolute directory (a shared filesystem path works) or s3://BUCKET[/PREFIX].",
            flag="--blob-url"),
    Setting("s3_endpoint_url", "NODAL_S3_ENDPOINT_URL", "str", "(AWS S3)",
            "Endpoint of an S3-compatible server (MinIO, Ceph, moto) for an s3:// blob_url.",
            flag="--s3-endpoint-url"),
    Setting("aws_access_key_id", "AWS_ACCESS_KEY_ID", "str", "(boto3's credential chain)",
            "S3 access key id for an s3:// blob_url.", secret=True),
    Setting("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "str", "(boto3's credential chain)",
            "S3 secret access key for an s3:// blob_url.", secret=True),
    Setting("aws_region", "AWS_DEFAULT_REGION", "str", "us-east-1",
            "S3 region for an s3:// blob_url."),
    # where containers run
    Setting("runtime", "NODAL_RUNTIME", "choice", "local",
            "Runtime backend: containers on this host (local) or placed on a Ray cluster (ray).",
            choices=("local", "ray"), flag="--runtime"),
    Setting("ray_address", "NODAL_RAY_ADDRESS", "str", "(none)",
            "Address of the Ray cluster for runtime = \"ray\" (e.g. 10.0.0.5:6379).", flag="--ray-address"),
    Setting("ray_layer_cache_gb", "NODAL_RAY_LAYER_CACHE_GB", "number", "20",
            "GiB of image layers and code blobs each Ray node keeps; beyond it the least recently used "
            "ones no container on the node uses are removed (0 = no limit)."),
    Setting("server_advertise", "NODAL_SERVER_ADVERTISE", "str", "https://<listen address>",
            "URL containers on Ray nodes use to reach this server (https://HOST:PORT), when not the listen one."),
    Setting("spare_containers", "NODAL_SPARE_CONTAINERS", "int", "1",
            "Containers kept booted per recently used image (2 images at most), so a function's "
            "cold start skips Python's start-up; 0 turns them off. Local runtime only."),
    Setting("gpu_fallback", "NODAL_GPU_FALLBACK", "choice", "cpu",
            "A function asking for a GPU type no node has: run on CPU with a warning, or queue for one.",
            choices=("cpu", "queue"), flag="--gpu-fallback"),
    # limits
    Setting("rate_limit", "NODAL_RATE_LIMIT", "number", "2000",
            "Requests per second allowed to one token on the guarded listeners."),
    Setting("max_streams", "NODAL_MAX_STREAMS", "int", "256",
            "Concurrent streaming calls allowed to one token."),
    Setting("max_request_bytes", "NODAL_MAX_REQUEST_BYTES", "int", "83886080 (80 MiB)",
            "Largest request message; larger ones fail with RequestSizeError."),
    # web endpoints and tunnels
    Setting("gateway_port", "NODAL_GATEWAY_PORT", "int", "8420 (a free port if taken)",
            "Port of the HTTP gateway serving web endpoints (0 = any free port)."),
    Setting("gateway_host", "NODAL_GATEWAY_HOST", "str", "127.0.0.1",
            "Address the HTTP gateway listens on."),
    Setting("workspace", "NODAL_WORKSPACE", "str", "nodal",
            "Workspace part of web endpoint URLs."),
    Setting("web_redirect_after", "NODAL_WEB_REDIRECT_AFTER", "number", "150",
            "Seconds a web request waits before the gateway answers with a redirect to poll."),
    Setting("tunnel_host", "NODAL_TUNNEL_HOST", "str", "127.0.0.1",
            "Address that modal.forward / sandbox tunnels listen on."),
    # secrets
    Setting("secret_key", "NODAL_SECRET_KEY", "str", "$NODAL_HOME/secret.key (generated)",
            "Fernet key encrypting stored secrets.", secret=True),
    Setting("secret_key_previous", "NODAL_SECRET_KEY_PREVIOUS", "list", "(none)",
            "Older Fernet keys; secrets under them are re-encrypted at start.", secret=True),
    # images
    Setting("debian_mirror", "NODAL_DEBIAN_MIRROR", "str", "(Debian's default mirror)",
            "Debian mirror for building base images."),
    Setting("insecure_registries", "NODAL_INSECURE_REGISTRIES", "list", "(none)",
            "Registries (host:port) that Image.from_registry speaks to over plain HTTP."),
    Setting("base_cache", "NODAL_BASE_CACHE", "str", "$NODAL_HOME/images/base",
            "Directory of the Debian base root filesystems (shareable between servers)."),
    # the process
    Setting("log_level", "NODAL_LOG_LEVEL", "choice", "INFO", "Server log level.",
            choices=("DEBUG", "INFO", "WARNING", "ERROR")),
)

BY_KEY = {s.key: s for s in SETTINGS}


class ServerConfigError(Exception):
    """The configuration file is unusable; the message says what to change."""


def config_path(explicit: str | os.PathLike | None = None) -> tuple[Path, bool]:
    """The file to read and whether it was asked for (an asked-for file must exist)."""
    from nodal import paths

    chosen = explicit or os.environ.get(CONFIG_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser().absolute(), True
    return paths.nodal_home() / CONFIG_FILE_NAME, False


def load_server_config(path: str | os.PathLike | None = None) -> tuple[Path | None, dict[str, str]]:
    """Read and validate the configuration file: (its path or None, {ENV_VAR: value as text}).

    Raises ServerConfigError for a missing asked-for file, bad TOML, unknown keys or wrong types."""
    file, asked = config_path(path)
    try:
        text = file.read_text()
    except FileNotFoundError:
        if asked:
            raise ServerConfigError(f"the server configuration file {file} does not exist ({CONFIG_ENV} / --config)")
        return None, {}
    except OSError as exc:
        raise ServerConfigError(f"cannot read the server configuration file {file}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ServerConfigError(f"{file} is not valid TOML: {exc}") from None
    unknown = sorted(k for k in data if k not in BY_KEY)
    if unknown:
        raise ServerConfigError(
            f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} in {file}; "
            f"valid settings: {', '.join(BY_KEY)} (see docs/server-config.md)")
    values = {BY_KEY[k].env: _as_text(BY_KEY[k], v, file) for k, v in data.items()}
    _warn_if_readable(file, [k for k in data if BY_KEY[k].secret])
    return file, values


def apply_server_config(path: str | os.PathLike | None = None) -> dict[str, str]:
    """Export the file's settings whose environment variable is unset; return those exported.

    Raises SystemExit with the reason when the file is unusable (the server does not start)."""
    try:
        file, values = load_server_config(path)
    except ServerConfigError as exc:
        raise SystemExit(str(exc)) from None
    applied = {env: value for env, value in values.items() if not os.environ.get(env, "").strip()}
    os.environ.update(applied)
    if "NODAL_LOG_LEVEL" in applied:  # logging was set up before the file was read
        logging.getLogger().setLevel(applied["NODAL_LOG_LEVEL"])
    if file is not None:
        overridden = sorted(set(values) - set(applied))
        log.info("settings from %s: %s%s", file, ", ".join(sorted(applied)) or "none",
                 f" (overridden by the environment: {', '.join(overridden)})" if overridden else "")
    return applied


def _as_text(setting: Setting, value: object, file: Path) -> str:
    """`value` checked against the setting's kind, as the text its environment variable holds."""
    where = f"{setting.key!r} in {file}"
    kind = setting.kind
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ServerConfigError(f"{where} must be an integer, not {value!r}")
        return str(value)
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ServerConfigError(f"{where} must be a number, not {value!r}")
        return str(value)
    if kind == "list":
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ServerConfigError(f"{where} must be a list of strings, not {value!r}")
        return ",".join(i.strip() for i in items if i.strip())
    if not isinstance(value, str):
        raise ServerConfigError(f"{where} must be a string, not {value!r}")
    if kind == "choice":
        normalised = value.strip().upper() if setting.key == "log_level" else value.strip().lower()
        if normalised not in setting.choices:
            raise ServerConfigError(f"{where} must be one of {', '.join(setting.choices)}, not {value!r}")
        return normalised
    return value.strip()


def _warn_if_readable(file: Path, secret_keys: list[str]) -> None:
    """A file holding secrets should be readable by its owner only."""
    try:
        mode = file.stat().st_mode
    except OSError:
        return
    if secret_keys and mode & 0o077:
        log.warning("%s holds %s but is readable by other users: chmod 600 it",
                    file, ", ".join(secret_keys))
