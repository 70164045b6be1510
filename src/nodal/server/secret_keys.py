"""The server's secret encryption keys: where they come from, how they are checked and replaced.

Two sources, chosen by the operator:

- `NODAL_SECRET_KEY` (a Fernet key), with optional `NODAL_SECRET_KEY_PREVIOUS` (comma-separated
  older keys, accepted for decryption only). The server cannot change its environment, so a key
  from there is rotated by restarting with a new `NODAL_SECRET_KEY` and the old one in
  `NODAL_SECRET_KEY_PREVIOUS`: at start every secret is re-encrypted under the new key, after
  which the previous one can be dropped.
- Otherwise `$NODAL_HOME/secret.key`, created on first start. Rotation (`SecretService.rotate_key`)
  uses two more files beside it: `secret.key.next`, the new key staged durably *before* the
  database is re-encrypted under it, and `secret.key.previous`, the key it replaced (still accepted
  for decryption until the next rotation, e.g. for a database restored from a backup).

Key files must be owner-only. A key file that group or others may read makes the server refuse to
start (asking for `chmod 600`) instead of fixing the mode quietly: the mode says the key may already
have been copied, and only the operator can judge whether to rotate it; tightening it in silence
would hide that. The same goes for a key file owned by another user (who could replace it) or a
symlink (which could point anywhere).
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from nodal import paths

KEY_ENV = "NODAL_SECRET_KEY"
PREVIOUS_ENV = "NODAL_SECRET_KEY_PREVIOUS"
KEY_FILE = "secret.key"
NEXT_SUFFIX = ".next"
PREVIOUS_SUFFIX = ".previous"
_TMP_PREFIX = ".tmp-"

NEW_KEY_HINT = (
    "make one with `python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
)


class SecretKeyError(RuntimeError):
    """The server's secret key is missing, malformed, exposed, or cannot be replaced here."""


@dataclass(frozen=True)
class KeyRing:
    """The key that encrypts (`primary`) and the keys that may still decrypt (`older`).

    `path` is the key file when the keys come from files (None: from the environment or given
    directly); `staged` is a `secret.key.next` left by a rotation that did not finish."""

    primary: bytes
    older: tuple[bytes, ...] = ()
    source: str = "given"  # "file" | "env" | "given"
    path: Path | None = None
    staged: bytes | None = None

    def fernet(self) -> MultiFernet:
        """Encrypts with `primary`; decrypts with any known key (primary first)."""
        keys: list[bytes] = [self.primary]
        for k in (self.staged, *self.older):
            if k is not None and k not in keys:
                keys.append(k)
        return MultiFernet([Fernet(k) for k in keys])


def key_path() -> Path:
    return paths.nodal_home() / KEY_FILE


def next_path(path: Path) -> Path:
    return path.with_name(path.name + NEXT_SUFFIX)


def previous_path(path: Path) -> Path:
    return path.with_name(path.name + PREVIOUS_SUFFIX)


def check_key(key: bytes, where: str) -> None:
    """Raise SecretKeyError (never showing the key) unless `key` is a Fernet key."""
    try:
        Fernet(key)
    except (ValueError, TypeError):
        raise SecretKeyError(
            f"{where} is not a valid secret key (expected 32 url-safe base64-encoded bytes); {NEW_KEY_HINT}"
        ) from None


def read_key_file(path: Path) -> bytes:
    """The key in `path`, refusing a symlink, a file of another user, or one others may read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if path.is_symlink():
            raise SecretKeyError(f"secret key file {path} is a symlink; replace it with the key file itself") from None
        raise SecretKeyError(f"cannot read secret key file {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode):
            raise SecretKeyError(f"secret key file {path} is not a regular file")
        if st.st_uid != os.geteuid():
            raise SecretKeyError(
                f"secret key file {path} belongs to uid {st.st_uid}, not to the server's user (uid {os.geteuid()}); "
                f"`chown {os.geteuid()} {path}` if it is yours"
            )
        if mode & 0o077:
            raise SecretKeyError(
                f"secret key file {path} may be read by other users (mode {mode:o}): the server will not use an "
                f"exposed key. Run `chmod 600 {path}`, then consider rotating the key (`modal server rotate-key`), "
                "since it may have been copied"
            )
        with os.fdopen(fd, "rb") as f:
            fd = -1
            key = f.read().strip()
    finally:
        if fd >= 0:
            os.close(fd)
    check_key(key, f"secret key file {path}")
    return key


def _read_optional(path: Path) -> bytes | None:
    try:
        return read_key_file(path)
    except FileNotFoundError:
        return None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_key_file(path: Path, key: bytes) -> None:
    """Replace `path` with `key` atomically and durably: a 0600 temp file, fsync, rename, fsync dir."""
    tmp = path.with_name(path.name + _TMP_PREFIX + os.urandom(6).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key + b"\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def promote_next(path: Path, old_primary: bytes) -> None:
    """Finish a rotation whose re-encryption has committed: remember the old key as previous,
    then make the staged key current (the rename is the switch; the staged file stays valid
    until then, so a crash at any point leaves a key that opens every row)."""
    write_key_file(previous_path(path), old_primary)
    os.replace(next_path(path), path)
    _fsync_dir(path.parent)


def _remove_stale_temps(path: Path) -> None:
    for tmp in path.parent.glob(path.name + "*" + _TMP_PREFIX + "*"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _env_keyring() -> KeyRing | None:
    raw = os.environ.get(KEY_ENV)
    if raw is None or not raw.strip():
        return None
    key = raw.strip().encode()
    check_key(key, f"${KEY_ENV}")
    older = []
    for i, part in enumerate(os.environ.get(PREVIOUS_ENV, "").split(","), 1):
        if part.strip():
            old = part.strip().encode()
            check_key(old, f"key {i} of ${PREVIOUS_ENV}")
            older.append(old)
    return KeyRing(primary=key, older=tuple(older), source="env")


def load_keyring(create: bool = True, path: Path | None = None) -> KeyRing:
    """The server's keys: from the environment if `NODAL_SECRET_KEY` is set, else the key files
    (`path`, by default `$NODAL_HOME/secret.key`, created 0600 if absent and `create`; and the
    `.previous` and `.next` files beside it). Raises SecretKeyError with what to fix."""
    ring = _env_keyring()
    if ring is not None:
        return ring
    path = path or key_path()
    if create and not path.exists() and not path.is_symlink():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            pass  # created by someone else meanwhile: read theirs below
        else:
            with os.fdopen(fd, "wb") as f:
                f.write(key + b"\n")
                f.flush()
                os.fsync(f.fileno())
            _fsync_dir(path.parent)
    try:
        primary = read_key_file(path)
    except FileNotFoundError:
        raise SecretKeyError(f"no secret key: set ${KEY_ENV} or start the server to create {path}") from None
    if create:
        _remove_stale_temps(path)
    previous = _read_optional(previous_path(path))
    return KeyRing(
        primary=primary,
        older=(previous,) if previous is not None else (),
        source="file",
        path=path,
        staged=_read_optional(next_path(path)),
    )


def load_key(create: bool = True) -> bytes:
    """The key that encrypts new secrets (see `load_keyring`)."""
    return load_keyring(create).primary
