"""Which blob store the server uses, from NODAL_BLOB_URL.

- unset: a directory under NODAL_HOME (`$NODAL_HOME/blobs`), the single-machine default;
- an absolute directory path (or `file:///path`): blobs as files there; point every server of a
  cluster at one shared filesystem path (NFS, CephFS, ...) and they share their blobs;
- `s3://BUCKET[/PREFIX]`: an S3-compatible bucket. NODAL_S3_ENDPOINT_URL names a server other
  than AWS (MinIO, Ceph RGW, moto: `http://host:9000`); credentials come from the standard AWS
  variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_DEFAULT_REGION) or
  boto3's other sources. `$NODAL_HOME/blob-cache/BUCKET/PREFIX` then caches the blobs this
  machine uses.

The store is checked when opened: a missing bucket, refused credentials or an unreachable
endpoint stop the server at start with a message naming the URL (never a secret).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from nodal.store.blob_store import BlobStore

BLOB_URL_ENV = "NODAL_BLOB_URL"
S3_ENDPOINT_ENV = "NODAL_S3_ENDPOINT_URL"


def blob_url() -> str:
    """The configured NODAL_BLOB_URL ("" for the default directory)."""
    return os.environ.get(BLOB_URL_ENV, "").strip()


def local_blob_dir(url: str) -> Path | None:
    """The directory a directory-style NODAL_BLOB_URL names (absolute, or `file://`), else None."""
    if url.startswith("file://"):
        url = url[len("file://"):]
    elif "://" in url:
        return None
    path = Path(url).expanduser()
    return path if path.is_absolute() else None


def blob_files_dir(url: str | None = None) -> Path:
    """Where this machine keeps blob files for `url` (default: NODAL_BLOB_URL): the directory a
    directory URL names; for s3://BUCKET/PREFIX a cache of its own, `$NODAL_HOME/blob-cache/BUCKET/PREFIX`
    (never the default store's `$NODAL_HOME/blobs`, whose blobs the bucket may lack); else
    `$NODAL_HOME/blobs`."""
    from nodal import paths

    url = blob_url() if url is None else url.strip()
    if url.startswith("s3://"):
        bucket, _, prefix = url[len("s3://"):].partition("/")
        parts = [p for p in (bucket, *prefix.split("/")) if p and p not in (".", "..")]
        return paths.nodal_home().joinpath("blob-cache", *parts)
    return (local_blob_dir(url) if url else None) or paths.nodal_home() / "blobs"


def open_blob_store(url: str | None = None, cache_dir: Path | None = None) -> BlobStore:
    """Open and check the configured blob store; SystemExit with a clear message when it is unusable."""
    from nodal import paths
    from nodal.store.blobs.local_dir import LocalDirBlobStore
    from nodal.store.blobs.s3 import BlobStoreConfigError, S3BlobStore

    url = blob_url() if url is None else url.strip()
    if not url:
        return _checked_dir(LocalDirBlobStore, paths.nodal_home() / "blobs")
    if url.startswith("s3://"):
        endpoint = os.environ.get(S3_ENDPOINT_ENV, "").strip() or None
        try:
            store = S3BlobStore(url, cache_dir or blob_files_dir(url), endpoint_url=endpoint)
            store.check()
        except BlobStoreConfigError as exc:
            raise SystemExit(str(exc)) from None
        return store
    directory = local_blob_dir(url)
    if directory is None:
        raise SystemExit(
            f"{BLOB_URL_ENV} must be an absolute directory path (/shared/nodal-blobs), file:///path or "
            f"s3://BUCKET[/PREFIX], not {url!r}")
    return _checked_dir(LocalDirBlobStore, directory)


def _checked_dir(cls: type, directory: Path) -> BlobStore:
    """A directory store, after checking that this process can create files there."""
    try:
        store = cls(directory)
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise SystemExit(f"cannot use the blob directory {directory}: {exc.strerror or exc} ({BLOB_URL_ENV})") from None
    return store
