r"""Modal intentionally keeps configurability to a minimum.

The main configuration options are the API tokens: the token id and the token secret.
These can be configured in two ways:

1. By running the `modal token set` command.
   This writes the tokens to `.modal.toml` file in your home directory.
2. By setting the environment variables `MODAL_TOKEN_ID` and `MODAL_TOKEN_SECRET`.
   This takes precedence over the previous method.

.modal.toml
---------------

The `.modal.toml` file is generally stored in your home directory.
It should look like this::

```toml
[default]
token_id = "ak-12345..."
token_secret = "as-12345..."
```

Other configuration options
---------------------------

Each setting `foo` can be set in the .toml file or as the env var `MODAL_FOO` (the env var
wins): `loglevel` (default `WARNING`), `log_format`, `logs_timeout` (10), `automount`
(True), `force_build` (False), `traceback` (False), `server_url` (unset: the local Nodal
server over its unix socket; a path or `unix://PATH` for another socket; `https://HOST:PORT`
or `grpcs://HOST:PORT` for a server reached over TCP with TLS), `server_ca` (a PEM file of
the CA a TLS server's certificate must chain to, e.g. the server's `$NODAL_HOME/tls/ca.pem`;
unset: the system's trusted roots), `environment`, `image_builder_version`, ... Nodal adds
`nodal_home` (env `NODAL_HOME`, default `~/.nodal`): where the local server keeps its state.

Meta-configuration
------------------

Some "meta-options" are set using environment variables only:

* `MODAL_CONFIG_PATH` lets you override the location of the .toml file,
  by default `~/.modal.toml`.
* `MODAL_PROFILE` lets you use multiple sections in the .toml file
  and switch between them. It defaults to the profile marked `active = true`, else "default".
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import typing
from collections.abc import Callable
from typing import Any

from .exception import InvalidError, NotFoundError

DEFAULT_SERVER_URL: str | None = None  # None: the local Nodal server over its unix socket


def _config_path() -> str:
    """Where the config file lives; read at each use so MODAL_CONFIG_PATH changes take effect."""
    return os.environ.get("MODAL_CONFIG_PATH") or os.path.expanduser("~/.modal.toml")


def _is_remote() -> bool:
    """Inside a container: never read or write a user config file there."""
    return os.environ.get("MODAL_IS_REMOTE") == "1"


_cache: dict[str, Any] = {"key": None, "data": {}}


def _read_user_config() -> dict[str, dict[str, Any]]:
    """The parsed config file ({profile: {key: value}}); cached until the file changes."""
    path = _config_path()
    if _is_remote():
        return {}
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return {}
    key = (path, st.st_mtime_ns, st.st_size, st.st_ino)
    if _cache["key"] != key:
        import toml  # deferred: not needed by code that never reads the file

        try:
            with open(path) as f:
                data = toml.load(f)
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad config file
            raise InvalidError(
                f"\nError when reading the modal configuration from `{path}`.\n\n{exc}"
            ) from None
        if not all(isinstance(v, dict) for v in data.values()):
            raise InvalidError(
                f"\nError when reading the modal configuration from `{path}`.\n\n"
                "TOML file must contain table sections for each profile."
            )
        _cache.update(key=key, data=data)
    return {name: dict(values) for name, values in _cache["data"].items()}


def _write_user_config(user_config: dict[str, Any]) -> None:
    """Write the whole config file atomically, readable by the owner only (it holds tokens)."""
    if _is_remote():
        raise InvalidError("Can't update config file in remote environment.")
    import toml

    path = _config_path()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".modal.toml.", dir=directory)  # created with mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            toml.dump(user_config, f)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def config_profiles() -> list[str]:
    """List the available modal profiles in the .modal.toml file."""
    return list(_read_user_config())


def _config_active_profile() -> str:
    """The profile marked `active = true` in the file, else "default"."""
    for name, values in _read_user_config().items():
        if values.get("active", False) is True:
            return name
    return "default"


def _active_profile() -> str:
    """MODAL_PROFILE if set, else the file's active profile, else "default"."""
    return os.environ.get("MODAL_PROFILE") or _config_active_profile()


def config_set_active_profile(env: str) -> None:
    """Set the user's active modal profile by writing it to the `.modal.toml` file."""
    user_config = _read_user_config()
    if env not in user_config:
        raise NotFoundError(f"No profile named '{env}' found in {_config_path()}")
    for name, values in user_config.items():
        values.pop("active", None)
        if name == env:
            values["active"] = True
    _write_user_config(user_config)


def _check_config() -> None:
    """Fail with a fix-it message when the file marks several profiles (or none of many) active."""
    user_config = _read_user_config()
    num_active = sum(bool(v.get("active", False)) for v in user_config.values())
    if num_active > 1:
        raise InvalidError(
            "More than one Modal profile is active. Please fix with `modal profile activate` "
            f"or by editing your Modal config file ({_config_path()})."
        )
    if len(user_config) > 1 and num_active == 0 and _active_profile() == "default":
        raise InvalidError(
            "No Modal profile is active.\n\nPlease fix by running `modal profile activate` "
            f"or by editing your Modal config file ({_config_path()})."
        )


def _to_boolean(x: object) -> bool:
    """Modal's rule: anything but "", "0" and "false" (any case) is true."""
    return str(x).lower() not in {"", "0", "false"}


def _check_value(options: list[str]) -> Callable[[str], str]:
    def checker(x: str) -> str:
        if x not in options:
            raise ValueError(f"Must be one of {options}.")
        return x

    return checker


class _Setting(typing.NamedTuple):
    default: Any = None
    transform: Callable[[Any], Any] = lambda x: x
    env_var: str | None = None  # default: MODAL_<KEY>


_SETTINGS: dict[str, _Setting] = {
    "loglevel": _Setting("WARNING", lambda s: str(s).upper()),
    "log_format": _Setting("STRING", lambda s: str(s).upper()),
    "log_pattern": _Setting(),
    "server_url": _Setting(DEFAULT_SERVER_URL, lambda s: s or None),
    "server_ca": _Setting(None, lambda s: os.path.abspath(os.path.expanduser(str(s))) if s else None),
    "token_id": _Setting(),
    "token_secret": _Setting(),
    "task_id": _Setting(),
    "serve_timeout": _Setting(transform=float),
    "sync_entrypoint": _Setting(),
    "logs_timeout": _Setting(10, float),
    "image_id": _Setting(),
    "heartbeat_interval": _Setting(15, float),
    "function_runtime": _Setting(),
    "function_runtime_debug": _Setting(False, _to_boolean),
    "environment": _Setting(),
    "default_cloud": _Setting(None, lambda x: x or None),
    "worker_id": _Setting(),
    "restore_state_path": _Setting("/__modal/restore-state.json"),
    "force_build": _Setting(False, _to_boolean),
    "ignore_cache": _Setting(False, _to_boolean),
    "traceback": _Setting(False, _to_boolean),
    "image_builder_version": _Setting(),
    "strict_parameters": _Setting(False, _to_boolean),
    "snapshot_debug": _Setting(False, _to_boolean),
    "automount": _Setting(True, _to_boolean),
    "build_validation": _Setting("error", _check_value(["error", "warn", "ignore"])),
    "nodal_home": _Setting("~/.nodal", lambda s: os.path.expanduser(str(s)), "NODAL_HOME"),
}


class Config:
    """Singleton that holds configuration used by Modal internally."""

    def __init__(self):
        pass

    def get(self, key, profile=None, use_env=True):
        """Looks up a configuration value.

        Will check (in decreasing order of priority):
        1. Any environment variable of the form MODAL_FOO_BAR (when use_env is True)
        2. Settings in the user's .toml configuration file
        3. The default value of the setting
        """
        setting = _SETTINGS[key]
        env_var = setting.env_var or "MODAL_" + key.upper()

        def transform(value: Any) -> Any:
            try:
                return setting.transform(value)
            except Exception as exc:  # noqa: BLE001 - any parse failure is a bad config file
                raise InvalidError(f"Invalid value for {key} config ({value!r}): {exc}") from None

        if use_env and env_var in os.environ:
            return transform(os.environ[env_var])
        if profile is None:
            profile = _active_profile()
        user_config = _read_user_config()
        if key in user_config.get(profile, {}):
            return transform(user_config[profile][key])
        return transform(setting.default) if setting.default is not None else None

    def override_locally(self, key: str, value: str):
        # Override setting in this process by overriding environment variable for the setting
        #
        # Does NOT write back to settings file etc.
        setting = _SETTINGS.get(key)
        if setting is None:
            # Not a setting (e.g. NVIDIA_VISIBLE_DEVICES restored from a memory snapshot).
            os.environ[key.upper()] = value
        else:
            os.environ[setting.env_var or "MODAL_" + key.upper()] = value

    def __getitem__(self, key):
        return self.get(key)

    def __repr__(self):
        return repr(self.to_dict(masked=True))

    def to_dict(self, masked: bool = False):
        """Every setting's effective value; with `masked`, the token secret is masked (for display)."""
        values = {key: self.get(key) for key in sorted(_SETTINGS)}
        if masked:
            values["token_secret"] = mask_secret(values["token_secret"])
        return values


def mask_secret(secret: str | None) -> str | None:
    """A token secret as it may be shown: its kind prefix only (`as-…****`), never its value."""
    if not secret:
        return secret
    prefix = str(secret)[:3] if str(secret).startswith("as-") else ""
    return f"{prefix}…****"


config = Config()


def __getattr__(name: str) -> Any:
    """Modal's module attributes `_profile` and `user_config_path`, computed at access time."""
    if name == "_profile":
        return _active_profile()
    if name == "user_config_path":
        return _config_path()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --- logging -----------------------------------------------------------------------------


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, for `log_format = "JSON"`."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {"timestamp": self.formatTime(record), "level": record.levelname, "message": record.getMessage()}
        )


def _configure_logger(log: logging.Logger, level: str, log_format: str, pattern: str | None) -> None:
    """Attach the SDK's stderr handler once and set the level from config."""
    numeric = logging.getLevelName(level)
    if not isinstance(numeric, int):
        numeric = logging.WARNING
    log.setLevel(numeric)
    handler = next((h for h in log.handlers if getattr(h, "_modal_handler", False)), None)
    if handler is None:
        handler = logging.StreamHandler()
        handler._modal_handler = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    handler.setLevel(numeric)
    if log_format == "JSON":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(pattern or "[modal-client] %(asctime)s %(message)s"))


logger = logging.getLogger("modal-client")
_configure_logger(logger, config["loglevel"], config["log_format"], config["log_pattern"])


# --- writing -----------------------------------------------------------------------------


def _store_user_config(
    new_settings: dict[str, Any], profile: str | None = None, active_profile: str | None = None
) -> None:
    """Merge `new_settings` into one profile of the config file (the active one by default).

    Used by the CLI (`modal token set`, `modal profile activate`). Other profiles are kept;
    with `active_profile`, that profile becomes the only one marked active.
    """
    if profile is None:
        profile = _active_profile()
    user_config = _read_user_config()
    user_config.setdefault(profile, {}).update(**new_settings)
    if active_profile is not None:
        for name, values in user_config.items():
            if name == active_profile:
                values["active"] = True
            else:
                values.pop("active", None)
    _write_user_config(user_config)
