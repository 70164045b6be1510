"""modal.CloudBucketMount on the server: a bucket's objects as a directory in a container.

No FUSE: when a container starts, the objects under the mount's `key_prefix` are downloaded into
a directory of that container's own, which the launcher binds at the mount path (read-only for
`read_only=True`, so writes fail with EROFS). For writable mounts the worker asks, after each
input and when it exits, for the files it created or changed to be uploaded and the files it
deleted to be deleted from the bucket (`BucketMountSync`), the same moments volumes commit.
Sandboxes have no worker: the sandbox service calls `upload_changes` itself while they run and
when they end (nodal.server.sandboxes).

Credentials come from the mount's secret: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (optionally
AWS_SESSION_TOKEN, AWS_REGION) or GOOGLE_ACCESS_KEY_ID / GOOGLE_ACCESS_KEY_SECRET (an HMAC key
for GCS's S3-compatible API). Without a secret the bucket is read anonymously.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets as _secrets
import shutil
import stat
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from nodal.proto import api_pb2
from nodal.server.errors import ApiError

log = logging.getLogger(__name__)

GCS_ENDPOINT = "https://storage.googleapis.com"
_PARALLEL = 8  # concurrent object transfers per mount
_CHUNK = 1 << 20


class BucketMountError(RuntimeError):
    """A bucket could not be read or written (bad credentials, missing bucket, unreachable endpoint)."""


@dataclass
class _Mounted:
    """One bucket mount of one container: its directory and what was last in sync with the bucket."""

    spec: api_pb2.BucketMount
    directory: Path
    env: dict[str, str]
    synced: dict[str, tuple[int, int]] = field(default_factory=dict)  # relative path -> (size, mtime_ns)


def _client(spec: api_pb2.BucketMount, env: dict[str, str]):
    """A boto3 S3 client for this mount, from the secret's variables."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    endpoint = spec.bucket_endpoint_url or None
    kwargs: dict = {"region_name": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"}
    if spec.secret_id:
        if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
            kwargs.update(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
                          aws_session_token=env.get("AWS_SESSION_TOKEN") or None)
        elif env.get("GOOGLE_ACCESS_KEY_ID") and env.get("GOOGLE_ACCESS_KEY_SECRET"):
            kwargs.update(aws_access_key_id=env["GOOGLE_ACCESS_KEY_ID"],
                          aws_secret_access_key=env["GOOGLE_ACCESS_KEY_SECRET"])
            endpoint = endpoint or GCS_ENDPOINT
        else:
            raise BucketMountError(
                f"the secret of the bucket mount at {spec.mount_path} has neither AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY nor GOOGLE_ACCESS_KEY_ID and GOOGLE_ACCESS_KEY_SECRET: add one pair"
            )
        config = Config(retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=_PARALLEL)
    else:
        config = Config(signature_version=UNSIGNED, retries={"max_attempts": 3, "mode": "standard"},
                        max_pool_connections=_PARALLEL)
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config, **kwargs)


def _explain(spec: api_pb2.BucketMount, action: str, exc: Exception) -> BucketMountError:
    """A message that names the bucket, the endpoint and what to check."""
    from botocore.exceptions import ClientError

    where = f"bucket {spec.bucket_name!r}" + (f" at {spec.bucket_endpoint_url}" if spec.bucket_endpoint_url else "")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, message = err.get("Code", "?"), err.get("Message", "")
        hint = ""
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken",
                    "ExpiredToken"):
            hint = " (check the credentials in the mount's secret and their permissions on the bucket)"
        elif code in ("NoSuchBucket", "404"):
            hint = " (check bucket_name and bucket_endpoint_url)"
        return BucketMountError(f"could not {action} {where}: {code}: {message}{hint}")
    return BucketMountError(f"could not {action} {where}: {exc}")


def _relative(key: str, prefix: str) -> str | None:
    """The object's path inside the mount, or None for keys that are not files there."""
    rel = key[len(prefix):]
    if not rel or rel.endswith("/"):
        return None  # the prefix itself or a "directory" marker
    parts = PurePosixPath(rel).parts
    if rel.startswith("/") or any(p in ("..", ".") for p in parts):
        return None  # would land outside the mount directory
    return rel


def _payer(spec: api_pb2.BucketMount) -> dict:
    return {"RequestPayer": "requester"} if spec.requester_pays else {}


def _download(m: _Mounted) -> None:
    """Copy every object under the prefix into the mount directory (runs in a thread)."""
    spec = m.spec
    s3 = _client(spec, m.env)
    keys: list[tuple[str, str]] = []
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=spec.bucket_name, Prefix=spec.key_prefix, **_payer(spec))
        for page in pages:
            for obj in page.get("Contents", []):
                rel = _relative(obj["Key"], spec.key_prefix)
                if rel is not None:
                    keys.append((obj["Key"], rel))
    except Exception as exc:  # noqa: BLE001 - every failure is explained to the user
        raise _explain(spec, "list", exc) from exc

    def fetch(item: tuple[str, str]) -> tuple[str, tuple[int, int]]:
        key, rel = item
        dest = m.directory / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:  # one GET per object (download_file adds a HEAD and a thread pool per call)
            body = s3.get_object(Bucket=spec.bucket_name, Key=key, **_payer(spec))["Body"]
            with open(dest, "wb") as f:
                for chunk in body.iter_chunks(_CHUNK):
                    f.write(chunk)
        except Exception as exc:  # noqa: BLE001
            raise _explain(spec, f"read {key!r} from", exc) from exc
        st = dest.stat()
        return rel, (st.st_size, st.st_mtime_ns)

    with ThreadPoolExecutor(_PARALLEL) as pool:
        m.synced = dict(pool.map(fetch, keys))


def _scan(directory: Path) -> dict[str, tuple[int, int]]:
    """Every regular file under the directory (symlinks are not uploaded)."""
    found: dict[str, tuple[int, int]] = {}
    for root, _dirs, files in os.walk(directory):
        for name in files:
            p = Path(root) / name
            try:
                st = p.lstat()
            except FileNotFoundError:  # removed while we looked (a running sandbox writes meanwhile)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            found[p.relative_to(directory).as_posix()] = (st.st_size, st.st_mtime_ns)
    return found


def _upload(m: _Mounted) -> tuple[int, int]:
    """Upload new and changed files, delete removed ones; returns (uploaded, deleted)."""
    spec = m.spec
    now = _scan(m.directory)
    changed = [rel for rel, sig in now.items() if m.synced.get(rel) != sig]
    gone = [rel for rel in m.synced if rel not in now]
    if not changed and not gone:
        return 0, 0
    s3 = _client(spec, m.env)

    def put(rel: str) -> None:
        try:
            s3.upload_file(str(m.directory / rel), spec.bucket_name, spec.key_prefix + rel,
                           ExtraArgs=_payer(spec) or None)
        except FileNotFoundError:  # removed since the scan: the next sync deletes it from the bucket
            now.pop(rel, None)
        except Exception as exc:  # noqa: BLE001
            raise _explain(spec, f"write {spec.key_prefix + rel!r} to", exc) from exc

    with ThreadPoolExecutor(_PARALLEL) as pool:
        list(pool.map(put, changed))
    for rel in gone:
        try:
            s3.delete_object(Bucket=spec.bucket_name, Key=spec.key_prefix + rel, **_payer(spec))
        except Exception as exc:  # noqa: BLE001
            raise _explain(spec, f"delete {spec.key_prefix + rel!r} from", exc) from exc
    for rel in changed:
        if rel in now:
            m.synced[rel] = now[rel]
    for rel in gone:
        m.synced.pop(rel, None)
    return len(changed), len(gone)


_RESERVED_PATHS = ("", "/root", "/tmp", "/proc", "/dev", "/sys", "/run/nodal")


def validate_specs(specs) -> None:
    """Refuse bucket mounts a client could not have made with modal.CloudBucketMount (every RPC
    that takes them checks them): raises ApiError("InvalidError") saying what to change."""
    seen: set[str] = set()
    for spec in specs:
        path = spec.mount_path.rstrip("/")
        if not spec.mount_path.startswith("/") or path in _RESERVED_PATHS or ".." in path.split("/"):
            raise ApiError("InvalidError", f"bucket mount path {spec.mount_path!r} must be an absolute path "
                                           "other than /, /root and /tmp")
        if path in seen:
            raise ApiError("InvalidError", f"two bucket mounts at {spec.mount_path!r}: give each its own path")
        seen.add(path)
        if not spec.bucket_name or "/" in spec.bucket_name or ".." in spec.bucket_name:
            raise ApiError("InvalidError", f"invalid bucket_name {spec.bucket_name!r} for the mount at {path}")
        prefix = spec.key_prefix
        if prefix and (not prefix.endswith("/") or prefix.startswith("/") or ".." in prefix.split("/")):
            raise ApiError("InvalidError", f"invalid key_prefix {prefix!r}: it must end with '/', not start "
                                           "with one, and have no '..'")
        if spec.bucket_endpoint_url and not spec.bucket_endpoint_url.startswith(("http://", "https://")):
            raise ApiError("InvalidError", f"invalid bucket_endpoint_url {spec.bucket_endpoint_url!r}: "
                                           "give an http:// or https:// URL")


class BucketMountService:
    """The bucket directories of running containers."""

    def __init__(self, root: Path, secret_env) -> None:
        """`secret_env(secret_ids) -> dict` gives decrypted secret variables (SecretService.env_for)."""
        shutil.rmtree(root, ignore_errors=True)  # directories of containers from a previous run
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.secret_env = secret_env
        self.mounted: dict[str, list[_Mounted]] = {}
        self.tokens: dict[str, str] = {}
        self.locks: dict[str, asyncio.Lock] = {}

    async def mount(self, container_id: str, token: str, specs) -> list[tuple[Path, str, bool]]:
        """Download each mount's objects; returns (host directory, mount path, read_only) binds.
        Raises BucketMountError (with what to fix) when a bucket cannot be read."""
        base = self.root / container_id
        mounts: list[_Mounted] = []
        self.mounted[container_id] = mounts
        self.tokens[container_id] = token
        try:
            for i, spec in enumerate(specs):
                env = self.secret_env([spec.secret_id]) if spec.secret_id else {}
                if spec.secret_id and not env:
                    raise BucketMountError(f"the secret of the bucket mount at {spec.mount_path} no longer exists")
                d = base / str(i)
                d.mkdir(parents=True)
                m = _Mounted(spec=spec, directory=d, env=env)
                await asyncio.to_thread(_download, m)
                mounts.append(m)
        except BaseException:
            self.release(container_id)
            raise
        return [(m.directory, m.spec.mount_path, m.spec.read_only) for m in mounts]

    async def sync(self, req: api_pb2.BucketMountSyncRequest) -> api_pb2.Empty:
        """Upload a container's changes to its writable mounts (the worker's call)."""
        expected = self.tokens.get(req.container_id)
        if expected is None or not _secrets.compare_digest(expected, req.token):
            raise ApiError("NotFoundError", f"no running container {req.container_id!r} with bucket mounts")
        try:
            await self.upload_changes(req.container_id)
        except BucketMountError as exc:
            raise ApiError("ExecutionError", str(exc)) from exc
        return api_pb2.Empty()

    async def upload_changes(self, container_id: str) -> tuple[int, int]:
        """Upload what a container changed in its writable mounts; returns (uploaded, deleted).
        The server's own call for containers without a worker (sandboxes). Raises BucketMountError."""
        lock = self.locks.setdefault(container_id, asyncio.Lock())
        uploaded = deleted = 0
        async with lock:
            for m in self.mounted.get(container_id, []):
                if not m.spec.read_only:
                    up, gone = await asyncio.to_thread(_upload, m)
                    uploaded, deleted = uploaded + up, deleted + gone
        return uploaded, deleted

    def has_writable(self, container_id: str) -> bool:
        """Whether a container has a bucket mount it may write to."""
        return any(not m.spec.read_only for m in self.mounted.get(container_id, []))

    def release(self, container_id: str) -> None:
        """Forget a finished container and delete its bucket directories."""
        self.mounted.pop(container_id, None)
        self.tokens.pop(container_id, None)
        self.locks.pop(container_id, None)
        shutil.rmtree(self.root / container_id, ignore_errors=True)
