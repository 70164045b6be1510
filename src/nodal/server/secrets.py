"""The server side of `modal.Secret`: named and anonymous secrets, encrypted at rest.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256) under the server's key, managed by
`secret_keys` (`NODAL_SECRET_KEY`, else `$NODAL_HOME/secret.key`, owner-only; rotation keeps the
previous key for decryption). The store only ever holds ciphertext; rows written in plaintext by
older servers are re-encrypted at start. Values leave this module only towards containers and
image builds, and never appear in logs, audit events or error messages (those name secrets and
keys, not values).
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from nodal.proto import api_pb2
from nodal.server import secret_keys
from nodal.server.errors import ApiError, invalid, not_found
from nodal.server.ids import new_id
from nodal.server.secret_keys import (  # noqa: F401  (re-exported: main and tests import them from here)
    KEY_ENV,
    KEY_FILE,
    PREVIOUS_ENV,
    KeyRing,
    SecretKeyError,
    key_path,
    load_key,
    load_keyring,
)
from nodal.store.metadata import MetadataStore

log = logging.getLogger("nodal.secrets")

_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]{1,64}$")
_ENV_KEY_RE = re.compile(r"^[^=\0]+$")


def check_env_keys(env) -> None:
    """Validate the variables of a secret; errors name the key, never the value."""
    for k, v in env.items():
        if not _ENV_KEY_RE.match(k):
            raise invalid(f"invalid environment variable name {k!r} in secret: it must be non-empty, without '=' or NUL")
        if "\0" in v:
            raise invalid(f"the value of {k!r} in the secret contains a NUL byte, which environment variables cannot hold")


def _keyring_for(key: bytes | KeyRing | None) -> KeyRing:
    """A ring for `key`: the server's own (with its files, so it can rotate) when `key` is the key
    the server would load, else a ring of just that key."""
    if isinstance(key, KeyRing):
        return key
    try:
        ring = load_keyring(create=key is None)
    except (SecretKeyError, OSError):
        if key is None:
            raise
        return KeyRing(primary=key)
    if key is None or key == ring.primary:
        return ring
    return KeyRing(primary=key)


class SecretService:
    """Creates, finds, lists and deletes secrets; decrypts them for container launches; rotates
    the encryption key. `audit` (a `nodal.server.audit.AuditLog`, set by main) records changes."""

    def __init__(self, store: MetadataStore, key: bytes | KeyRing | None = None) -> None:
        self.store = store
        self.audit = None
        self._ring = _keyring_for(key)
        self._fernet = self._ring.fernet()
        if self._ring.staged is not None and self._ring.path is not None:
            log.warning("finishing a secret key rotation that was interrupted (%s exists)",
                        secret_keys.next_path(self._ring.path))
            self._finish_rotation(self._ring.staged)
        self.reencrypt_plaintext()
        if self._ring.older and self._ring.source == "env":
            self._reencrypt_under_primary()

    @classmethod
    def default(cls, store: MetadataStore) -> SecretService:
        return cls(store, None)

    @property
    def key_source(self) -> str:
        """"file", "env" (NODAL_SECRET_KEY) or "given" (a key passed in directly)."""
        return self._ring.source

    # ---- at rest ----
    def _seal(self, env: dict[str, str]) -> str:
        return self._fernet.encrypt(json.dumps(env).encode()).decode("ascii")

    def _decrypt(self, sealed: str) -> dict[str, str] | None:
        try:
            return json.loads(self._fernet.decrypt(sealed.encode("ascii")))
        except (InvalidToken, ValueError):
            return None

    def _open(self, secret_id: str, sealed: str) -> dict[str, str]:
        if sealed.lstrip().startswith("{"):  # a plaintext row not yet migrated
            return json.loads(sealed)
        env = self._decrypt(sealed)
        if env is None and self._reload_keys():
            env = self._decrypt(sealed)
        if env is None:
            # Never include the stored text: say which secret, not what it holds.
            raise ApiError(
                "ExecutionError",
                f"secret {secret_id} cannot be decrypted with this server's key "
                f"(was ${KEY_ENV} or {KEY_FILE} changed?)",
            )
        return env

    def _reload_keys(self) -> bool:
        """Re-read the key files (another SecretService of this process, or another server on the
        same store, may have rotated the key); True if they differ from the ring in use."""
        if self._ring.source != "file" or self._ring.path is None:
            return False
        try:
            ring = load_keyring(create=False, path=self._ring.path)
        except (SecretKeyError, OSError):
            log.warning("could not re-read the secret key files", exc_info=True)
            return False
        if ring == self._ring:
            return False
        self._ring, self._fernet = ring, ring.fernet()
        return True

    def reencrypt_plaintext(self) -> int:
        """Encrypt every row that an older server stored as plain JSON; return how many."""
        n = 0
        with self.store.transaction():
            for secret_id, raw in self.store.all_secrets():
                if raw.lstrip().startswith("{"):
                    self.store.update_secret_env(secret_id, self._seal(json.loads(raw)))
                    n += 1
        if n:
            log.info("encrypted %d secret(s) stored in plaintext by an older server", n)
        return n

    def _reencrypt_all(self, fernet) -> int:
        """Re-encrypt every row under `fernet`'s primary key in one transaction; rows that no known
        key opens are left as they are (and counted in a warning, by id only)."""
        count, unreadable = 0, []
        with self.store.transaction():
            for secret_id, raw in self.store.all_secrets():
                if raw.lstrip().startswith("{"):
                    env = json.loads(raw)
                else:
                    env = self._decrypt(raw)
                    if env is None:
                        unreadable.append(secret_id)
                        continue
                self.store.update_secret_env(secret_id, fernet.encrypt(json.dumps(env).encode()).decode("ascii"))
                count += 1
        if unreadable:
            log.warning("%d secret(s) open with none of the server's keys and were left as they are: %s",
                        len(unreadable), ", ".join(unreadable[:20]))
        return count

    def _reencrypt_under_primary(self) -> int:
        """With older keys from NODAL_SECRET_KEY_PREVIOUS: move rows still under them to the primary."""
        primary = Fernet(self._ring.primary)
        stale = 0
        for _, raw in self.store.all_secrets():
            try:
                primary.decrypt(raw.encode("ascii"))
            except (InvalidToken, ValueError):
                stale += 1
        if not stale:
            log.info("every secret is already under $%s: $%s can be removed", KEY_ENV, PREVIOUS_ENV)
            return 0
        n = self._reencrypt_all(self._fernet)
        log.info("re-encrypted %d secret(s) under $%s; $%s can now be removed", n, KEY_ENV, PREVIOUS_ENV)
        return n

    # ---- key rotation ----
    def rotate_key(self) -> tuple[int, Path]:
        """Replace the key file's key with a new one, re-encrypting every secret; return
        (secrets re-encrypted, key file path).

        Crash-safe ordering: (1) the new key is written durably to `secret.key.next`; (2) every row
        is re-encrypted under it in one store transaction; (3) the old key is written to
        `secret.key.previous` and `secret.key.next` renamed over `secret.key`. A crash before (2)
        commits leaves the old rows and the old key; after it, the staged key is on disk and the
        next start finishes (3). Either way every row opens with a key on disk."""
        ring = self._ring
        if ring.source == "env":
            raise ApiError(
                "InvalidError",
                f"this server takes its secret key from ${KEY_ENV}, which it cannot change: to rotate, restart "
                f"it with ${KEY_ENV} set to a new key ({secret_keys.NEW_KEY_HINT}) and ${PREVIOUS_ENV} set "
                f"to the current one; it re-encrypts every secret at start, after which ${PREVIOUS_ENV} can be "
                "removed",
            )
        if ring.path is None:
            raise ApiError("InvalidError", "this secret service was given its key directly and has no key file to rotate")
        if ring.staged is not None:  # an unfinished rotation: finish it before staging another key
            self._finish_rotation(ring.staged)
        new_key = Fernet.generate_key()
        path = self._ring.path
        assert path is not None
        secret_keys.write_key_file(secret_keys.next_path(path), new_key)
        self._ring = KeyRing(self._ring.primary, self._ring.older, "file", path, staged=new_key)
        self._fernet = self._ring.fernet()
        count = self._finish_rotation(new_key)
        log.info("rotated the secret key %s: %d secret(s) re-encrypted", path, count)
        self._record("secret.key_rotate", str(path), f"{count} secret(s) re-encrypted")
        return count, path

    def _finish_rotation(self, new_key: bytes) -> int:
        """Steps (2) and (3) of `rotate_key` for a key already staged in `secret.key.next`."""
        old, path = self._ring, self._ring.path
        assert path is not None
        count = self._reencrypt_all(KeyRing(new_key).fernet())
        self._ring = KeyRing(new_key, (old.primary,), "file", path)
        self._fernet = self._ring.fernet()
        try:
            secret_keys.promote_next(path, old.primary)
        except BaseException:
            # The rows are under the new key, which is still staged on disk: the next start (or
            # rotation) finishes promoting it.
            self._ring = KeyRing(new_key, (old.primary,), "file", path, staged=new_key)
            raise
        return count

    def _record(self, action: str, target: str, detail: str = "") -> None:
        """An audit event: names, environments and key names only, never values."""
        if self.audit is not None:
            self.audit.record(action, target, detail)

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
        with self.store.transaction():
            if found is not None:
                secret_id = found.secret_id
                self.store.update_secret_env(secret_id, self._seal(dict(req.env)))
            else:
                secret_id = new_id("secret")
                self.store.put_secret(secret_id, self._seal(dict(req.env)))
            self.store.put_secret_name(req.name, env_name, secret_id, now)
        self._record("secret.update" if found is not None else "secret.create", req.name,
                     f"environment={env_name} keys={','.join(sorted(req.env))}")
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
        with self.store.transaction():
            self.store.delete_secret_name(name, env_name)
            self.store.delete_secret(found.secret_id)
        self._record("secret.delete", name, f"environment={env_name}")

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
