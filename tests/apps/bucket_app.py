"""Functions that mount a bucket of a local S3 API server (tests/test_cloud_bucket_mount.py).

The test sets NODAL_TEST_S3_ENDPOINT, NODAL_TEST_S3_KEY_ID, NODAL_TEST_S3_KEY_SECRET and
NODAL_TEST_S3_BUCKET before importing this module (inside containers they are unset, and unused:
the mounts were sent to the server when the app started).
"""

import errno
import os

import modal

app = modal.App("nodal-test-bucket-mount")

ENDPOINT = os.environ.get("NODAL_TEST_S3_ENDPOINT", "http://127.0.0.1:1")
BUCKET = os.environ.get("NODAL_TEST_S3_BUCKET", "nodal-test-bucket")
creds = modal.Secret.from_dict({
    "AWS_ACCESS_KEY_ID": os.environ.get("NODAL_TEST_S3_KEY_ID", ""),
    "AWS_SECRET_ACCESS_KEY": os.environ.get("NODAL_TEST_S3_KEY_SECRET", ""),
})
wrong_creds = modal.Secret.from_dict({"AWS_ACCESS_KEY_ID": "AKIANOTAREALKEY00000", "AWS_SECRET_ACCESS_KEY": "nope"})


def _tree(root: str) -> dict:
    """Every file under root with its text."""
    found = {}
    for d, _dirs, files in os.walk(root):
        for name in files:
            full = os.path.join(d, name)
            with open(full) as f:
                found[os.path.relpath(full, root)] = f.read()
    return found


@app.function(volumes={"/bucket": modal.CloudBucketMount(BUCKET, bucket_endpoint_url=ENDPOINT, key_prefix="data/",
                                                          secret=creds)})
def edit(write: dict, delete: list) -> dict:
    """Return what the mount held, then write and delete files in it."""
    before = _tree("/bucket")
    for path, text in write.items():
        full = os.path.join("/bucket", path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    for path in delete:
        os.remove(os.path.join("/bucket", path))
    return before


@app.function(volumes={"/ro": modal.CloudBucketMount(BUCKET, bucket_endpoint_url=ENDPOINT, secret=creds,
                                                      read_only=True)})
def read_only_attempt() -> dict:
    """The whole bucket as seen read-only, and the errno of trying to write and delete in it."""
    seen = _tree("/ro")
    codes = {}
    try:
        with open("/ro/sneaky.txt", "w") as f:
            f.write("should not land")
        codes["create"] = 0
    except OSError as exc:
        codes["create"] = exc.errno
    try:
        os.remove(os.path.join("/ro", sorted(seen)[0]))
        codes["remove"] = 0
    except OSError as exc:
        codes["remove"] = exc.errno
    return {"seen": seen, "codes": codes, "erofs": errno.EROFS}


@app.function(volumes={"/b": modal.CloudBucketMount(BUCKET, bucket_endpoint_url=ENDPOINT, secret=wrong_creds)})
def with_wrong_credentials() -> list:
    return os.listdir("/b")


@app.cls(volumes={"/models": modal.CloudBucketMount(BUCKET, bucket_endpoint_url=ENDPOINT, key_prefix="models/",
                                                     secret=creds, read_only=True)})
class Reader:
    @modal.method()
    def read(self, path: str) -> str:
        with open(os.path.join("/models", path)) as f:
            return f.read()
