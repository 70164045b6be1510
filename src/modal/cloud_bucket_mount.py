"""modal.CloudBucketMount: an S3-compatible bucket (AWS S3, Cloudflare R2, GCS, MinIO, ...) mounted
in a function's or a sandbox's container through `volumes={"/path": CloudBucketMount(...)}`.

The Nodal server copies the objects under `key_prefix` into the container's mount directory when
the container starts; for writable mounts it uploads the files the container created or changed
(and deletes the ones it removed) after each input and when the container exits (a sandbox's:
every few seconds while it runs, and when it ends).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from modal.exception import InvalidError

if TYPE_CHECKING:
    from modal.client import Client
    from nodal.proto import api_pb2

# Lowercase letters, digits, '.', '-' (S3) and '_' (GCS); starts and ends with a letter or digit.
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")


class CloudBucketMount:
    """Mounts a cloud bucket in a container at the path it is given in `volumes=`.

    `secret` holds AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (S3 and S3-compatible services;
    AWS_REGION optional) or GOOGLE_ACCESS_KEY_ID and GOOGLE_ACCESS_KEY_SECRET (a GCS HMAC key);
    without one the bucket is read anonymously. `bucket_endpoint_url` points at an S3-compatible
    service (R2, GCS, MinIO); `key_prefix` (ending in "/") limits the mount to the objects under it;
    `read_only=True` makes writes fail (EROFS) and uploads nothing; `requester_pays=True` sends the
    requester-pays flag with every request.
    """

    def __init__(
        self,
        bucket_name: str,
        bucket_endpoint_url: str | None = None,
        key_prefix: str | None = None,
        secret: Any = None,
        oidc_auth_role_arn: str | None = None,
        read_only: bool = False,
        requester_pays: bool = False,
    ) -> None:
        from modal.secret import Secret

        if not isinstance(bucket_name, str) or not _BUCKET_RE.match(bucket_name) or ".." in bucket_name:
            raise InvalidError(
                f"invalid bucket_name {bucket_name!r}: use 3 to 222 lowercase letters, digits, '.', '-' or '_', "
                "starting and ending with a letter or digit"
            )
        if bucket_endpoint_url is not None and (
            not isinstance(bucket_endpoint_url, str) or not re.match(r"^https?://[^/\s]+", bucket_endpoint_url)
        ):
            raise InvalidError(
                f"invalid bucket_endpoint_url {bucket_endpoint_url!r}: give an http:// or https:// URL "
                "such as 'https://<account>.r2.cloudflarestorage.com'"
            )
        if key_prefix is not None:
            if not isinstance(key_prefix, str) or not key_prefix.endswith("/") or key_prefix.startswith("/"):
                raise InvalidError(
                    f"invalid key_prefix {key_prefix!r}: it is put in front of every object key, so it must end "
                    "with '/' (and not start with one), e.g. 'data/2024/'"
                )
            if ".." in key_prefix.split("/"):
                raise InvalidError(f"invalid key_prefix {key_prefix!r}: '..' is not allowed")
        if secret is not None and not isinstance(secret, Secret):
            raise InvalidError(f"secret= must be a modal.Secret, not {type(secret).__name__}")
        if oidc_auth_role_arn is not None:
            raise InvalidError(
                "oidc_auth_role_arn needs Modal's OIDC identity provider, which a Nodal server does not have: "
                "pass secret=modal.Secret with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead"
            )
        if requester_pays and secret is None:
            raise InvalidError("requester_pays=True needs credentials: pass secret= as well")
        self.bucket_name = bucket_name
        self.bucket_endpoint_url = bucket_endpoint_url
        self.key_prefix = key_prefix
        self.secret = secret
        self.oidc_auth_role_arn = oidc_auth_role_arn
        self.read_only = bool(read_only)
        self.requester_pays = bool(requester_pays)

    def __repr__(self) -> str:
        prefix = f", key_prefix={self.key_prefix!r}" if self.key_prefix else ""
        return f"CloudBucketMount({self.bucket_name!r}{prefix}, read_only={self.read_only})"

    async def _to_proto(self, mount_path: str, client: Client, app_id: str = "") -> api_pb2.BucketMount:
        """This mount as the server sees it (the secret resolved to its id now)."""
        from nodal.proto import api_pb2

        secret_id = await self.secret._resolve(client, app_id) if self.secret is not None else ""
        return api_pb2.BucketMount(
            mount_path=mount_path,
            bucket_name=self.bucket_name,
            bucket_endpoint_url=self.bucket_endpoint_url or "",
            key_prefix=self.key_prefix or "",
            secret_id=secret_id,
            read_only=self.read_only,
            requester_pays=self.requester_pays,
        )
