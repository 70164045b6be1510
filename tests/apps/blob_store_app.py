"""Functions for tests/test_blob_store_s3.py: payloads and a volume that travel via the blob store."""

import os

import modal

app = modal.App("nodal-test-blob-store")

vol = modal.Volume.from_name("nodal-test-blob-volume", create_if_missing=True)


@app.function()
def reverse(data: bytes) -> bytes:
    """Large argument in, large result out: both go through the blob store."""
    return data[::-1]


@app.function(volumes={"/data": vol})
def write(path: str, text: str) -> None:
    with open(os.path.join("/data", path), "w") as f:
        f.write(text)
    vol.commit()


@app.function(volumes={"/data": vol})
def read(path: str) -> str:
    vol.reload()
    with open(os.path.join("/data", path)) as f:
        return f.read()


# Image layers whose file content reaches the image builder through the blob store. The file
# is $NODAL_TEST_BLOB_FILE (the test writes it); inside a container the images are only described.
DATA_FILE = os.environ.get("NODAL_TEST_BLOB_FILE", "/nonexistent/blob-file")
copied = modal.Image.debian_slim().add_local_file(DATA_FILE, "/opt/data.bin", copy=True)
# The same file in another layer, built after the server lost its local blob cache: its content
# is in the bucket already (the client does not upload it again), so the builder fetches it.
copied_again = modal.Image.debian_slim().add_local_file(DATA_FILE, "/opt/again.bin", copy=True)


@app.function(image=copied)
def copied_file() -> bytes:
    with open("/opt/data.bin", "rb") as f:
        return f.read()


later_app = modal.App("nodal-test-blob-store-later")  # run on its own: its image is built then


@later_app.function(image=copied_again)
def copied_file_again() -> bytes:
    with open("/opt/again.bin", "rb") as f:
        return f.read()
