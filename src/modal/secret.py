"""`modal.Secret`: environment variables injected into containers."""

from __future__ import annotations

import os
import re

from modal._utils.async_utils import live_method
from modal.client import Client, _default_client
from modal.exception import InvalidError
from nodal.proto import api_pb2

_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{1,64}$")


def _default_environment() -> str:
    """The configured environment (`MODAL_ENVIRONMENT` / config), as the CLI uses; "" = the server's default."""
    from modal.config import config

    try:
        return config.get("environment") or ""
    except Exception:  # noqa: BLE001 - a broken config file falls back to the default environment
        return ""


class Secret:
    """A set of environment variables, stored by the server and set in containers that use it.

    Values are sent to the server once (encrypted there at rest) and only ever come back
    inside the containers that use the secret; the SDK never reads them back.
    """

    def __init__(
        self,
        env: dict[str, str] | None = None,
        name: str | None = None,
        *,
        environment_name: str | None = None,
        required_keys: list[str] | None = None,
    ) -> None:
        self._env = env
        self._name = name
        self._environment_name = environment_name or ""
        self._required_keys = list(required_keys or [])
        self._secret_id: str | None = None

    def __repr__(self) -> str:
        if self._name is not None:
            return f"Secret.from_name({self._name!r})"
        return f"Secret({self._secret_id or 'anonymous'})"  # never the values

    @property
    def object_id(self) -> str | None:
        return self._secret_id

    @property
    def is_hydrated(self) -> bool:
        return self._secret_id is not None

    async def _resolve(self, client: Client, app_id: str = "") -> str:
        if self._name is not None:
            # Looked up at every publish: the name may have been re-created since.
            resp = await client.stub.SecretLookup(
                api_pb2.SecretLookupRequest(
                    name=self._name, environment_name=self._environment_name or _default_environment(),
                    required_keys=self._required_keys,
                )
            )
            self._secret_id = resp.secret_id
        elif self._secret_id is None:
            resp = await client.stub.SecretCreate(api_pb2.SecretCreateRequest(env=self._env or {}, app_id=app_id))
            self._secret_id = resp.secret_id
        return self._secret_id

    @live_method
    async def hydrate(self, client: Client | None = None) -> Secret:
        """Resolve this secret on the server now (a named one is looked up, its required keys checked)."""
        await self._resolve(client or await _default_client())
        return self

    @classmethod
    def from_dict(cls, env_dict: dict[str, str | None] = {}) -> Secret:
        """A secret from a dict; entries whose value is None are left out."""
        if not isinstance(env_dict, dict) or not all(isinstance(k, str) for k in env_dict):
            raise InvalidError("Secret.from_dict takes a dict of str keys to str values")
        for k, v in env_dict.items():
            if v is not None and not isinstance(v, str):
                raise InvalidError(f"secret value for {k!r} must be a str (or None), got {type(v).__name__}")
        return cls({k: v for k, v in env_dict.items() if v is not None})

    @classmethod
    def from_local_environ(cls, env_keys: list[str]) -> Secret:
        """A secret holding these variables from this process's environment (all must be set)."""
        missing = [k for k in env_keys if k not in os.environ]
        if missing:
            raise InvalidError(f"environment variables not set locally: {', '.join(missing)}")
        return cls({k: os.environ[k] for k in env_keys})

    @classmethod
    def from_dotenv(cls, path: str | None = None, *, filename: str = ".env") -> Secret:
        """A secret from a .env file (KEY=VALUE lines; found next to `path`, or in the working directory)."""
        import pathlib

        base = pathlib.Path(path).parent if path else pathlib.Path.cwd()
        env: dict[str, str] = {}
        p = base / filename
        if p.exists():
            for line in p.read_text().splitlines():
                line = line.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                k, _, v = line.removeprefix("export ").partition("=")
                env[k.strip()] = v.strip().strip("'\"")
        return cls(env)

    @classmethod
    def from_name(
        cls,
        name: str,
        namespace=None,  # accepted for compatibility; Nodal has one workspace
        environment_name: str | None = None,
        required_keys: list[str] = [],
    ) -> Secret:
        """Reference a secret by name (create one with `modal secret create NAME KEY=VALUE ...`).

        Lazy: it is looked up when an app using it is published (or on `hydrate()`), and then
        fails with NotFoundError if there is no such secret or it lacks one of `required_keys`.
        """
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise InvalidError(f"invalid secret name {name!r}: use 1 to 64 letters, digits, '-', '_' or '.'")
        if isinstance(required_keys, str) or not all(isinstance(k, str) for k in required_keys):
            raise InvalidError("required_keys must be a list of str")
        return cls(None, name=name, environment_name=environment_name, required_keys=list(required_keys))
