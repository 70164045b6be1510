"""modal.gpu: GPU types and the deprecated `modal.gpu.*` configuration classes.

**GPU configuration shortcodes**

The valid `str` values for the `gpu` parameter of `@app.function` are the types below,
case-insensitive, optionally suffixed with `:N` to request N GPUs (`"a10g:4"`):

- "t4" → `GPU(T4, count=1)`
- "l4" → `GPU(L4, count=1)`
- "a10g" → `GPU(A10G, count=1)`
- "a100" / "a100-40gb" → `GPU(A100-40GB, count=1)`
- "a100-80gb" → `GPU(A100-80GB, count=1)`
- "l40s" → `GPU(L40S, count=1)`
- "h100" → `GPU(H100, count=1)`
- "h200" → `GPU(H200, count=1)`
- "b200" → `GPU(B200, count=1)`
- "any" → `GPU(Any, count=1)`

The classes (`modal.gpu.H100(count=2)`) still work but are deprecated: use a string
(`gpu="H100:2"`). Every form becomes one canonical string, e.g. `"A100-80GB:2"`, which is
what the SDK sends to the server (see `modal._validation.parse_gpu`).
"""

from __future__ import annotations

from typing import Union

from .exception import InvalidError, deprecation_warning

# Canonical type names, in the order error messages list them.
GPU_TYPES: tuple[str, ...] = (
    "T4",
    "L4",
    "A10G",
    "A100-40GB",
    "A100-80GB",
    "L40S",
    "H100",
    "H200",
    "B200",
    "ANY",
)
# Accepted spellings (upper-cased) that are not canonical names themselves.
GPU_ALIASES: dict[str, str] = {"A100": "A100-40GB", "A10": "A10G", "H100!": "H100"}
MAX_GPU_COUNT = 8


def canonical_gpu_type(name: str) -> str:
    """The canonical type for a case-insensitive name or alias; InvalidError listing valid types if unknown."""
    key = name.strip().upper()
    key = GPU_ALIASES.get(key, key)
    if key not in GPU_TYPES:
        valid = ", ".join(t.lower() for t in GPU_TYPES)
        raise InvalidError(
            f"Invalid GPU type: {name!r}. Value must be one of: {valid} (case-insensitive), "
            "optionally with a count suffix like 'h100:2'."
        )
    return key


def canonical_gpu_string(gpu_type: str, count: int) -> str:
    """`"TYPE"` for one GPU, `"TYPE:N"` for N; validates type and count (1..MAX_GPU_COUNT)."""
    canonical = canonical_gpu_type(gpu_type)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_GPU_COUNT:
        raise InvalidError(
            f"Invalid GPU count: {count!r}. Value must be an integer between 1 and {MAX_GPU_COUNT}."
        )
    return canonical if count == 1 else f"{canonical}:{count}"


class _GPUConfig:
    """A GPU request: a type and a count. Deprecated in favour of strings such as `"H100:2"`."""

    gpu_type: str
    count: int

    def __init__(self, gpu_type: str, count: int):
        str_value = canonical_gpu_string(gpu_type, count)
        name = type(self).__name__
        deprecation_warning(
            (2025, 2, 7), f'`gpu={name}(...)` is deprecated. Use `gpu="{str_value}"` instead.'
        )
        self.gpu_type = canonical_gpu_type(gpu_type)
        self.count = count

    def _canonical(self) -> str:
        """The canonical string for this request, as `parse_gpu` returns it."""
        return canonical_gpu_string(self.gpu_type, self.count)

    def __str__(self) -> str:
        return self._canonical()

    def __repr__(self) -> str:
        return f"GPU({self.gpu_type}, count={self.count})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _GPUConfig) and self._canonical() == other._canonical()

    def __hash__(self) -> int:
        return hash(self._canonical())


class T4(_GPUConfig):
    """NVIDIA T4 Tensor Core GPU class: a low-cost Turing data center GPU with 16GB of memory."""

    def __init__(
        self,
        count: int = 1,  # Number of GPUs per container. Defaults to 1.
    ):
        super().__init__("T4", count)


class L4(_GPUConfig):
    """NVIDIA L4 Tensor Core GPU class: a mid-tier Ada Lovelace GPU with 24GB of memory and RTX support."""

    def __init__(
        self,
        count: int = 1,  # Number of GPUs per container. Defaults to 1.
    ):
        super().__init__("L4", count)


class A100(_GPUConfig):
    """NVIDIA A100 Tensor Core GPU class: the flagship Ampere GPU, with 40GB or 80GB of memory."""

    def __init__(
        self,
        *,
        count: int = 1,  # Number of GPUs per container. Defaults to 1.
        size: str
        | None = None,  # Select GB configuration of GPU device: "40GB" or "80GB". Defaults to "40GB".
    ):
        if size is None or size == "40GB":
            super().__init__("A100-40GB", count)
        elif size == "80GB":
            super().__init__("A100-80GB", count)
        else:
            raise ValueError(f"size='{size}' is invalid. A100s can only have memory values of 40GB or 80GB.")


class A10G(_GPUConfig):
    """NVIDIA A10G Tensor Core GPU class: a mid-tier Ampere GPU with 24 GB of memory."""

    def __init__(
        self,
        *,
        # Number of GPUs per container. Defaults to 1.
        # Useful if you have very large models that don't fit on a single GPU.
        count: int = 1,
    ):
        super().__init__("A10G", count)


class H100(_GPUConfig):
    """NVIDIA H100 Tensor Core GPU class: the flagship Hopper GPU, with FP8 and a Transformer Engine."""

    def __init__(
        self,
        *,
        # Number of GPUs per container. Defaults to 1.
        # Useful if you have very large models that don't fit on a single GPU.
        count: int = 1,
    ):
        super().__init__("H100", count)


class L40S(_GPUConfig):
    """NVIDIA L40S GPU class: an Ada Lovelace data center GPU with 48 GB of GDDR6 and FP8 support."""

    def __init__(
        self,
        *,
        # Number of GPUs per container. Defaults to 1.
        # Useful if you have very large models that don't fit on a single GPU.
        count: int = 1,
    ):
        super().__init__("L40S", count)


class Any(_GPUConfig):
    """Selects any one of the GPU classes available within Modal, according to availability."""

    def __init__(self, *, count: int = 1):
        super().__init__("ANY", count)

    def __repr__(self) -> str:
        return f"GPU(Any, count={self.count})"


GPU_T = Union[None, str, _GPUConfig]  # noqa: UP007 - a runtime alias, as in Modal
