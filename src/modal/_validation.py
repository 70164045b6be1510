"""Pure validation of Function/Cls/Sandbox options (cpu, memory, gpu, timeout, counts).

Run where the user writes the option (decorator, `with_options`, `Sandbox.create`), so a
mistake fails at once with a `modal.exception.InvalidError` that says what to change,
instead of at deploy time on the server. No I/O, no server state.
"""

from __future__ import annotations

import math

from .exception import InvalidError
from .gpu import GPU_T, _GPUConfig, canonical_gpu_string

# Modal's maximum execution time for a Function input: 24 hours.
MAX_TIMEOUT_SECONDS = 24 * 60 * 60


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_cpu(cpu: float | tuple[float, float] | None) -> tuple[float, float]:
    """`cpu=` → (request, limit) in cores.

    A number is a request with no hard limit (limit 0.0); `(request, limit)` adds a hard
    limit, which must be >= the request. None (or 0, as in Modal) → (0.0, 0.0): the
    platform default.
    """
    if cpu is None or (_is_number(cpu) and cpu == 0):
        return 0.0, 0.0
    if _is_number(cpu):
        request, limit = float(cpu), 0.0  # type: ignore[arg-type]
    elif isinstance(cpu, tuple) and len(cpu) == 2 and all(_is_number(v) for v in cpu):
        request, limit = float(cpu[0]), float(cpu[1])
        if not (math.isfinite(limit) and limit > 0):
            raise InvalidError(f"CPU limit must be a positive number, got {cpu[1]!r}")
    else:
        raise InvalidError(
            f"Invalid cpu={cpu!r}: `cpu` must be a number of cores (e.g. 2.0) or a (request, limit) tuple."
        )
    if not (math.isfinite(request) and request > 0):
        raise InvalidError(f"CPU request must be a positive number, got {request!r}")
    if limit and limit < request:
        raise InvalidError(f"Cannot specify a CPU limit lower than request: {limit} < {request}")
    return request, limit


def parse_memory(memory: int | tuple[int, int] | None) -> tuple[int, int]:
    """`memory=` → (request, limit) in MiB.

    An int is a request with no hard limit (limit 0); `(request, limit)` adds a hard limit,
    which must be >= the request. None (or 0, as in Modal) → (0, 0): the platform default.
    """
    if memory is None or (_is_int(memory) and memory == 0):
        return 0, 0
    if _is_int(memory):
        request, limit = int(memory), 0  # type: ignore[arg-type]
    elif isinstance(memory, tuple) and len(memory) == 2 and all(_is_int(v) for v in memory):
        request, limit = int(memory[0]), int(memory[1])
        if limit <= 0:
            raise InvalidError(f"Memory limit must be a positive integer number of MiB, got {limit}")
    else:
        raise InvalidError(
            f"Invalid memory={memory!r}: `memory` must be an integer number of MiB (e.g. 1024) "
            "or a (request, limit) tuple of integers."
        )
    if request <= 0:
        raise InvalidError(f"Memory request must be a positive integer number of MiB, got {request}")
    if limit and limit < request:
        raise InvalidError(f"Cannot specify a memory limit lower than request: {limit} < {request}")
    return request, limit


def _parse_one_gpu(value: str | _GPUConfig) -> str:
    """One GPU request (string or deprecated object) → its canonical string."""
    if isinstance(value, _GPUConfig):
        return value._canonical()
    if isinstance(value, str):
        name, count = value, 1
        if ":" in value:
            name, count_str = value.split(":", 1)
            try:
                count = int(count_str)
            except ValueError:
                raise InvalidError(f"Invalid GPU count: {count_str!r}. Value must be an integer.") from None
        return canonical_gpu_string(name, count)
    raise InvalidError(
        f"Invalid GPU config: {value!r}. Value must be a string like 'h100' or 'a100-80gb:2', "
        "a list of such strings (in order of preference), or None."
    )


def parse_gpu(gpu: GPU_T | list[GPU_T]) -> str:
    """`gpu=` → canonical string: `""` (no GPU), `"H100:2"`, or `"H100,A100-80GB"` for a preference list."""
    if gpu is None or gpu is False:
        return ""
    if isinstance(gpu, list):
        if not gpu:
            raise InvalidError("gpu=[] is empty: list at least one GPU type, or pass gpu=None for no GPU.")
        parsed = [_parse_one_gpu(item) for item in gpu]  # type: ignore[arg-type]
        if len(set(parsed)) != len(parsed):
            raise InvalidError(f"gpu={gpu!r} lists the same GPU more than once: list each option once.")
        return ",".join(parsed)
    return _parse_one_gpu(gpu)  # type: ignore[arg-type]


def validate_timeout(timeout: float | None, name: str = "timeout") -> float | None:
    """A timeout in seconds: a positive number no larger than 24 hours. None passes through."""
    if timeout is None:
        return None
    if not _is_number(timeout) or not math.isfinite(timeout):
        raise InvalidError(f"`{name}` must be a number of seconds, got {timeout!r}")
    if timeout <= 0:
        raise InvalidError(f"`{name}` must be positive, got {timeout}")
    if timeout > MAX_TIMEOUT_SECONDS:
        raise InvalidError(
            f"`{name}` must be at most {MAX_TIMEOUT_SECONDS} seconds (24 hours), got {timeout}"
        )
    return timeout


def validate_positive_int(name: str, value: int | None, *, allow_zero: bool = False) -> int | None:
    """An integer option (`max_containers`, `buffer_containers`, ...): > 0, or >= 0 with `allow_zero`.

    None passes through (the option is unset).
    """
    if value is None:
        return None
    if not _is_int(value):
        raise InvalidError(f"`{name}` must be an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise InvalidError(f"`{name}` must be a {bound} integer, got {value}")
    return value
