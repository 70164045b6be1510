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
        """A secret from a .env file: the first `filename` found in the directory of `path` (or `path`
        itself, if a directory), or else in the working directory, and then in each parent directory up
        to the root. No file found gives an empty secret, as in Modal."""
        found = _find_dotenv(path, filename)
        return cls(parse_dotenv(found.read_text()) if found is not None else {})

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


def _find_dotenv(path: str | None, filename: str):
    """The first `filename` in the start directory or one of its parents (None if there is none)."""
    import pathlib

    if not isinstance(filename, str) or not filename or "/" in filename or filename in (".", ".."):
        raise InvalidError(f"from_dotenv filename must be a plain file name such as '.env', not {filename!r}")
    if path is None:
        start = pathlib.Path.cwd()
    else:
        start = pathlib.Path(path).absolute()
        if not start.exists():
            raise InvalidError(f"from_dotenv starting path {str(path)!r} does not exist")
        if not start.is_dir():
            start = start.parent
    for directory in (start, *start.parents):
        candidate = directory / filename
        if candidate.is_file():
            return candidate
    return None


_DOTENV_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_dotenv(text: str) -> dict[str, str]:
    """KEY=VALUE assignments of a .env file, read as python-dotenv does: blank lines and `#` comments
    are skipped, `export ` is allowed, 'single quotes' keep their text as is, "double quotes" take
    backslash escapes, both may span lines, and an unquoted value ends at a ` #` comment. Lines
    without `=` set nothing."""
    env: dict[str, str] = {}
    i, n = 0, len(text)
    while i < n:
        end = text.find("\n", i)
        end = n if end < 0 else end
        line = text[i:end].strip()
        if not line or line.startswith("#") or "=" not in line:
            i = end + 1
            continue
        key, _, rest = line.removeprefix("export ").partition("=")
        key = key.strip()
        start = i + text[i:end].index("=") + 1  # the value, as an offset in the whole text
        while start < n and text[start] in " \t":
            start += 1
        quote = text[start] if start < n else ""
        if quote in ("'", '"'):
            j, out = start + 1, []
            while j < n and text[j] != quote:
                if quote == '"' and text[j] == "\\" and j + 1 < n:
                    out.append(_DOTENV_ESCAPES.get(text[j + 1], "\\" + text[j + 1]))
                    j += 2
                    continue
                out.append(text[j])
                j += 1
            value = "".join(out)
            close = text.find("\n", j)
            i = n if close < 0 else close + 1
        else:
            value = text[start:end]
            comment = re.search(r"\s#", value)
            value = (value[: comment.start()] if comment else value).strip()
            i = end + 1
        if key:
            env[key] = value
    return env

