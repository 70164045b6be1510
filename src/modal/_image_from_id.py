"""`Image.from_id`: the chain of an image the server already built, rebuilt from its id.

The server keeps each image's spec (its steps and the ids of the secrets each step used);
the SDK turns that back into an `Image`, so `from_id(...)` can be extended like any image.
Start-time files (copy=False) live on the client that added them and are not carried over.
"""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING, Any

from modal._image_specs import _invalid
from nodal.images.builder import Step

if TYPE_CHECKING:
    from modal.image import Image


async def from_id(image_id: str, client: Any) -> Image:
    """The image `image_id` names; hydrated with that id unless it had start-time files."""
    from modal.client import _default_client
    from modal.image import Image  # here, not at the top: modal.image imports this module
    from modal.secret import Secret
    from nodal.proto import api_pb2

    if not isinstance(image_id, str) or not image_id.startswith("im-"):
        raise _invalid(f"Image.from_id: {image_id!r} is not an image id (they look like 'im-...')")
    client = client or await _default_client()
    resp = await client.stub.ImageFromId(api_pb2.ImageFromIdRequest(image_id=image_id))
    steps, secrets = [], []
    for s in resp.spec.steps:
        steps.append(Step(s.kind, json.loads(s.spec_json or "{}"), s.force_build))
        found = []
        for sid in s.secret_ids:
            secret = Secret(env={})
            secret._secret_id = sid
            found.append(secret)
        secrets.append(found)
    if resp.spec.mounts:  # stacklevel: one more than when this was Image._from_id's own body
        warnings.warn(
            f"Image.from_id({image_id!r}): its start-time files (add_local_* with copy=False) are not "
            "carried over; add them again", stacklevel=4)
    image = Image._from_steps(steps, secrets)
    image._object_id = image_id if not resp.spec.mounts else None
    return image
