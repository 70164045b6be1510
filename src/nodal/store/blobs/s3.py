"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, moto), with a local read-through cache.

The bucket is the source of truth, shared by every server and node of a cluster: object
`<prefix><sha256>` holds the blob whose sha256 is its name. A local directory (normally
`$NODAL_HOME/blobs`, laid out like `LocalDirBlobStore`) caches what this machine has put or
read, because blobs are immutable: a cached blob never goes stale, and consumers that need a
file (`path()`: code files bound into containers, volume files, image copy steps) get one
without a second download. `put` writes the bucket first and then the cache, so a blob that a
caller was told is stored is in the bucket.

Credentials come from boto3's standard chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, ~/.aws, instance roles); an S3-compatible server is named by its endpoint URL.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from nodal.store.blob_store import BlobStore, is_sha256, sha256_hex
from nodal.store.blobs.local_dir import LocalDirBlobStore

MULTIPART_THRESHOLD = 16 * 1024 * 1024  # larger blobs go up and down in parallel 16 MiB parts
CHUNK = 1024 * 1024
HEAD_FIRST_BYTES = 1024 * 1024  # puts of blobs this large check the bucket before uploading


class BlobStoreConfigError(Exception):
    """The configured blob store cannot be used; the message says what is wrong and what to change."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix/"); the prefix is "" or ends in "/"."""
    if not url.startswith("s3://"):
        raise BlobStoreConfigError(f"not an S3 URL (want s3://BUCKET[/PREFIX]): {url!r}")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise BlobStoreConfigError(f"the S3 URL {url!r} names no bucket (want s3://BUCKET[/PREFIX])")
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


class S3BlobStore(BlobStore):
    """Content-addressed blobs in `s3://bucket/prefix`, cached in `cache_dir`."""

    local_files_durable = False  # path() gives a cache of the bucket, refilled on demand

    def __init__(self, url: str, cache_dir: Path, endpoint_url: str | None = None, client: Any = None) -> None:
        self.url = url
        self.bucket, self.prefix = parse_s3_url(url)
        self.endpoint_url = endpoint_url or None
        self.cache = LocalDirBlobStore(cache_dir)
        self.client = client if client is not None else _make_client(self.endpoint_url)
        from boto3.s3.transfer import TransferConfig

        self.transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD,
                                       max_concurrency=4)

    @property
    def root(self) -> Path:
        """The local cache directory (where `path()` files live)."""
        return self.cache.root

    def where(self) -> str:
        """The bucket URL and endpoint, for messages (no credentials in either)."""
        return self.url + (f" at {redact_endpoint(self.endpoint_url)}" if self.endpoint_url else "")

    def key(self, sha256: str) -> str:
        if not is_sha256(sha256):
            raise KeyError(f"not a sha256 digest: {sha256!r}")
        return f"{self.prefix}{sha256}"

    # ---- BlobStore ----

    def has(self, sha256: str) -> bool:
        key = self.key(sha256)
        return self.cache.has(sha256) or self._exists_remote(key)

    def put(self, data: bytes) -> str:
        digest = sha256_hex(data)
        if self.cache.has(digest):  # only blobs already in the bucket reach the cache
            return digest
        key = self.key(digest)
        # Rewriting a small blob costs less than asking first (same key, same bytes); a large one is
        # looked for first, so that a blob already in the bucket is not uploaded again.
        if len(data) < HEAD_FIRST_BYTES or not self._exists_remote(key):
            try:
                self.client.upload_fileobj(io.BytesIO(data), self.bucket, key, Config=self.transfer)
            except Exception as exc:  # noqa: BLE001 - botocore raises several unrelated types
                raise _problem(exc, self) from None
        self.cache.put(data)
        return digest

    def get(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def path(self, sha256: str) -> Path:
        """A local file holding the blob (fetched into the cache on first use); KeyError if missing.

        The file is shared and immutable: copy it before changing it."""
        dest = self.cache.path(sha256)
        if dest.exists():
            return dest
        self._download(sha256, dest)
        return dest

    # ---- helpers ----

    def _exists_remote(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
            return True
        except ClientError as exc:
            if _status(exc) == 404:
                return False
            raise _problem(exc, self) from None

    def _download(self, sha256: str, dest: Path) -> None:
        """Fetch the blob into `dest` atomically, checking that its content matches its name."""
        from botocore.exceptions import ClientError

        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w+b") as f:
                try:
                    self.client.download_fileobj(self.bucket, self.key(sha256), f, Config=self.transfer)
                except ClientError as exc:
                    if _status(exc) == 404:
                        raise KeyError(sha256) from None
                    raise _problem(exc, self) from None
                except Exception as exc:  # noqa: BLE001 - connection errors and the like
                    raise _problem(exc, self) from None
                f.seek(0)
                h = hashlib.sha256()
                while chunk := f.read(CHUNK):
                    h.update(chunk)
            if h.hexdigest() != sha256:
                raise BlobStoreConfigError(f"blob {sha256} in {self.where()} does not match its sha256 (corrupted?)")
            os.replace(tmp, dest)  # readers never see a partial blob
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def check(self) -> None:
        """Raise BlobStoreConfigError unless the bucket exists and these credentials may list it."""
        try:  # a GET, not head_bucket: its error body says which problem it is (HEAD has only a status)
            self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        except Exception as exc:  # noqa: BLE001
            raise _problem(exc, self) from None


def redact_endpoint(url: str) -> str:
    """`url` without any user:password part."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    host, slash, path = rest.partition("/")
    if "@" in host:
        host = "***@" + host.rsplit("@", 1)[1]
    return f"{scheme}://{host}{slash}{path}"


def _make_client(endpoint_url: str | None) -> Any:
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    config = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else {},  # MinIO & co. serve buckets as paths
        max_pool_connections=16,
    )
    return session.client("s3", endpoint_url=endpoint_url, region_name=session.region_name or "us-east-1",
                           config=config)


def _status(exc: Any) -> int:
    response = getattr(exc, "response", None) or {}
    try:
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
    except (TypeError, ValueError):
        return 0


def _problem(exc: BaseException, store: S3BlobStore) -> BlobStoreConfigError:
    """A BlobStoreConfigError that says, in a few words, what is wrong and what to check."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    where = store.where()
    if isinstance(exc, BlobStoreConfigError):
        return exc
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return BlobStoreConfigError(
            f"no credentials for the blob store {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    if isinstance(exc, EndpointConnectionError):
        return BlobStoreConfigError(
            f"cannot reach the blob store {where}: is the S3 server running there? (NODAL_S3_ENDPOINT_URL)")
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = _status(exc)
        if code in ("NoSuchBucket",) or (status == 404 and code in ("404", "NotFound", "")):
            return BlobStoreConfigError(
                f"the bucket {store.bucket!r} of the blob store {where} does not exist: create it, "
                "or fix the bucket in NODAL_BLOB_URL")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "InvalidToken",
                    "ExpiredToken"):
            return BlobStoreConfigError(
                f"the blob store {where} refused the credentials ({code}): check AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY")
        if status == 403 or code in ("AccessDenied", "403", "Forbidden"):
            return BlobStoreConfigError(
                f"access denied to the blob store {where}: wrong credentials, or they lack s3:GetObject/"
                "s3:PutObject/s3:ListBucket on the bucket")
        return BlobStoreConfigError(f"the blob store {where} failed: {code or status} {exc}")
    text = str(exc) or type(exc).__name__
    return BlobStoreConfigError(f"the blob store {where} failed: {text}")
