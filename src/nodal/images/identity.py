"""Layer identities: a hash chain over the build steps.

Each step's identity is sha256(parent identity + canonical JSON of the step),
so two images that share a prefix of steps share those layers, exactly like
Docker's layer cache. `force_build` is deliberately not part of the identity:
it asks for a rebuild of the same layer, not for a different one.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nodal.images.builder import Step

# Bump when the way a step kind is built changes, so old layers are not reused.
RECIPE_VERSION = "1"


def canonical_step(step: Step) -> str:
    """The step's kind and spec as canonical JSON (sorted keys, no whitespace).

    Top-level spec keys starting with "_" carry data the step needs but that must not decide
    its identity (run_function's pickled payload: its source and arguments are hashed instead).
    """
    spec = {k: v for k, v in step.spec.items() if not k.startswith("_")}
    if isinstance(spec.get("stage"), list):  # COPY --from: the source image's steps, same rule
        spec["stage"] = [
            {**d, "spec": {k: v for k, v in d["spec"].items() if not k.startswith("_")}}
            if isinstance(d, dict) and isinstance(d.get("spec"), dict) else d
            for d in spec["stage"]
        ]
    return json.dumps(
        {"kind": step.kind, "spec": spec, "recipe": RECIPE_VERSION},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
    )


def layer_ids(steps: list[Step]) -> list[str]:
    """The identity of every layer in the chain, lowest first (hex digests)."""
    ids: list[str] = []
    parent = ""
    for step in steps:
        digest = hashlib.sha256()
        digest.update(parent.encode())
        digest.update(b"\0")
        digest.update(canonical_step(step).encode())
        parent = digest.hexdigest()
        ids.append(parent)
    return ids


def image_id(steps: list[Step]) -> str:
    """The image's identity: "im-" + the top layer's identity (deterministic)."""
    if not steps:
        raise ValueError("an image needs at least one build step")
    return "im-" + layer_ids(steps)[-1][:32]


def image_id_with_mounts(steps: list[Step], mounts: list[tuple[str, str, int]]) -> str:
    """The id of an image plus files added at container start: the layers' id when there are none.

    The mounts change the id (so a new set of files is a new image) but not the layers' ids.
    """
    base = image_id(steps)
    if not mounts:
        return base
    digest = hashlib.sha256(base.encode() + b"\0")
    digest.update(json.dumps(sorted(list(m) for m in mounts), separators=(",", ":")).encode())
    return "im-" + digest.hexdigest()[:32]
