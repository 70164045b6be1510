"""The server side of `modal.Secret`: named and anonymous secrets, encrypted at rest.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under one server key:
`NODAL_SECRET_KEY` if set, else `$NODAL_HOME/secret.key` (owner-only, created on first
start). The store only ever holds ciphertext; rows written in plaintext by older servers are
re-encrypted at start. Values leave this module only towards containers, and never appear in
logs or error messages (those name secrets and keys, not values).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from nodal import paths
from nodal.proto import api_pb2
from nodal.server.errors import ApiError, invalid, not_found
from nodal.server.ids import new_id
from nodal.store.metadata import MetadataStore

log = logging.getLogger("nodal.secrets")

KEY_ENV = "NODAL_SECRET_KEY"
KEY_FILE = "secret.key"
_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{1,64}$")
_ENV_KEY_RE = re.compile(r"^[^=\0]+$")


class SecretKeyError(RuntimeError):
    """The server's secret key is missing, malformed or does not open the stored secrets."""


def key_path() -> Path:
    return paths.nodal_home() / KEY_FILE


def load_key(create: bool = True) -> bytes:
    """The server's Fernet key: from NODAL_SECRET_KEY, else the key file (created 0600 if absent)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        key = from_env.strip().encode()
        _check_key(key, f"${KEY_ENV}")
        return key
    path = key_path()
    if not path.exists() and create:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # created by someone else meanwhile: read theirs below
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(key + b"\n")
                f.flush()
                os.fsync(f.fileno())
            log.info("created the secret encryption key %s", path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            log.warning("secret key %s was readable by others (mode %o): made owner-only", path, mode)
            os.chmod(path, 0o600)
        key = path.read_bytes().strip()
    except FileNotFoundError:
        raise SecretKeyError(f"no secret key: set ${KEY_ENV} or start the server to create {path}") from None
    _check_key(key, str(path))
    return key


def _check_key(key: bytes, where: str) -> None:
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise SecretKeyError(
            f"{where} is not a valid secret key (expected 32 url-safe base64-encoded bytes, "
            "as made by `cryptography.fernet.Fernet.generate_key()`)"
        ) from None


def check_env_keys(env) -> None:
    for k in env:
        if not _ENV_KEY_RE.match(k):
            raise invalid(f"invalid environment variable name {k!r} in secret")


class SecretService:
    """Creates, finds, lists and deletes secrets; decrypts them for container launches."""

    def __init__(self, store: MetadataStore, key: bytes) -> None:
        self.store = store
        self._fernet = Fernet(key)
        self.reencrypt_plaintext()

    @classmethod
    def default(cls, store: MetadataStore) -> SecretService:
        return cls(store, load_key())

    # ---- at rest ----
    def _seal(self, env: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(env).encode()).decode("ascii")

    def _open(self, secret_id: str, sealed: str) -> dict[str, str]:
        if sealed.lstrip().startswith("{"):  # a plaintext row not yet migrated
            return json.loads(sealed)
        try:
            return json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, ValueError):
            # Never include the stored text: say which secret, not what it holds.
            raise ApiError(
                "ExecutionError",
                f"secret {secret_id} cannot be decrypted with this server's key "
                f"(was ${KEY_ENV} or {KEY_FILE} changed?)",
            ) from None

    def reencrypt_plaintext(self) -> int:
        """Encrypt every row that an older server stored as plain JSON; return how many."""
        n = 0
        for secret_id, raw in self.store.all_secrets():
            if raw.lstrip().startswith("{"):
                self.store.put_secret(secret_id, self._seal(json.loads(raw)))
                n += 1
        if n:
            log.info("encrypted %d secret(s) stored in plaintext by an older server", n)
        return n

    # ---- anonymous ----
    def create_anonymous(self, env) -> str:
        check_env_keys(env)
        secret_id = new_id("secret")
        self.store.put_secret(secret_id, self._seal(dict(env)))
        return secret_id

    # ---- named ----
    def create_named(self, req: api_pb2.SecretNamedCreateRequest) -> api_pb2.SecretNamedCreateResponse:
        check_name(req.name)
        check_env_keys(req.env)
        env_name = req.environment_name or "main"
        now = time.time()
        found = self.store.find_secret_name(req.name, env_name)
        if found is not None and not req.force:
            raise ApiError(
                "AlreadyExistsError",
                f"secret {req.name!r} already exists in environment {env_name!r}; "
                "pass --force to overwrite it",
            )
        secret_id = found.secret_id if found is not None else new_id("secret")
        self.store.put_secret(secret_id, self._seal(dict(req.env)))
        self.store.put_secret_name(req.name, env_name, secret_id, now)
        return api_pb2.SecretNamedCreateResponse(secret_id=secret_id, overwritten=found is not None)

    def lookup(self, req: api_pb2.SecretLookupRequest) -> str:
        env_name = req.environment_name or "main"
        found = self.store.find_secret_name(req.name, env_name)
        if found is None:
            raise not_found(
                f"Secret {req.name!r} not found in environment {env_name!r}; create it with "
                f"`modal secret create {req.name} KEY=VALUE ...`"
            )
        if req.required_keys:
            raw = self.store.get_secret(found.secret_id)
            have = self._open(found.secret_id, raw) if raw is not None else {}
            missing = [k for k in req.required_keys if k not in have]
            if missing:
                raise not_found(
                    f"Secret {req.name!r} is missing required key(s): {', '.join(missing)} "
                    f"(it has: {', '.join(sorted(have)) or 'no keys'})"
                )
        return found.secret_id

    def list_named(self, environment_name: str) -> list[api_pb2.SecretInfo]:
        env_name = environment_name or "main"
        return [
            api_pb2.SecretInfo(name=r.name, environment_name=r.environment, created_at=r.created_at,
                               updated_at=r.updated_at)
            for r in self.store.list_secret_names(env_name)
        ]

    def delete(self, name: str, environment_name: str, allow_missing: bool = False) -> None:
        env_name = environment_name or "main"
        found = self.store.find_secret_name(name, env_name)
        if found is None:
            if allow_missing:
                return
            raise not_found(f"Secret {name!r} not found in environment {env_name!r}")
        self.store.delete_secret_name(name, env_name)
        self.store.delete_secret(found.secret_id)

    # ---- containers ----
    def env_for(self, secret_ids) -> dict[str, str]:
        """The variables of these secrets, later ones winning (deleted secrets are left out)."""
        env: dict[str, str] = {}
        for sid in secret_ids:
            raw = self.store.get_secret(sid)
            if raw is not None:
                env.update(self._open(sid, raw))
        return env


def check_name(name: str) -> None:
    if not _NAME_RE.match(name or ""):
        raise invalid(f"invalid secret name {name!r}: use 1 to 64 letters, digits, '-', '_' or '.'")
