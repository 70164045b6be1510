"""`modal.Secret`: environment variables injected into containers."""

from __future__ import annotations

import os

from modal.client import Client
from modal.exception import InvalidError, NotFoundError
from nodal.proto import api_pb2


class Secret:
    """A set of environment variables, stored by the server and set in containers that use it."""

    def __init__(self, env: dict[str, str] | None = None, name: str | None = None) -> None:
        self._env = env
        self._name = name
        self._secret_id: str | None = None

    @property
    def object_id(self) -> str | None:
        return self._secret_id

    async def _resolve(self, client: Client, app_id: str = "") -> str:
        if self._secret_id is None:
            if self._env is None:
                raise NotFoundError(f"named secrets ({self._name!r}) are not supported by this Nodal server yet")
            resp = await client.stub.SecretCreate(api_pb2.SecretCreateRequest(env=self._env, app_id=app_id))
            self._secret_id = resp.secret_id
        return self._secret_id

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
    def from_name(cls, name: str, *, environment_name: str | None = None,
                  required_keys: list[str] = []) -> Secret:
        return cls(None, name=name)
