"""Options of `@app.function` / `@app.cls`, validated where the user writes them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modal._validation import parse_cpu, parse_gpu, parse_memory, validate_positive_int, validate_timeout
from modal.exception import InvalidError, deprecation_warning
from modal.retries import Retries, parse_retries
from nodal.proto import api_pb2

DEFAULT_TIMEOUT = 300


@dataclass
class FunctionOptions:
    image: Any = None
    secrets: list = field(default_factory=list)
    volumes: dict = field(default_factory=dict)
    network_file_systems: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    gpu: str = ""
    cpu: tuple[float, float] = (0.0, 0.0)
    memory: tuple[int, int] = (0, 0)
    timeout: float = DEFAULT_TIMEOUT
    startup_timeout: float = 0.0
    retries: Retries | None = None
    min_containers: int = 0
    max_containers: int = 0
    buffer_containers: int = 0
    scaledown_window: float = 0.0
    max_inputs: int = 0
    max_concurrent_inputs: int = 0
    target_concurrent_inputs: int = 0
    block_network: bool = False
    enable_memory_snapshot: bool = False
    serialized: bool = False
    schedule: Any = None

    def to_proto(self, **fields: Any) -> api_pb2.FunctionDef:
        retries = api_pb2.RetryPolicy()
        if self.retries is not None:
            retries = api_pb2.RetryPolicy(**self.retries._to_dict())
        return api_pb2.FunctionDef(
            timeout=self.timeout,
            retries=retries,
            cpu=self.cpu[0],
            cpu_limit=self.cpu[1],
            memory_mb=self.memory[0],
            memory_limit_mb=self.memory[1],
            min_containers=self.min_containers,
            max_containers=self.max_containers,
            buffer_containers=self.buffer_containers,
            scaledown_window=self.scaledown_window,
            max_inputs=self.max_inputs,
            max_concurrent_inputs=self.max_concurrent_inputs,
            target_concurrent_inputs=self.target_concurrent_inputs,
            block_network=self.block_network,
            enable_memory_snapshot=self.enable_memory_snapshot,
            startup_timeout=self.startup_timeout,
            gpu=self.gpu,
            env={k: v for k, v in self.env.items() if v is not None},
            schedule_json=self.schedule.to_json() if self.schedule is not None else "",
            **fields,
        )


def _pick(new_name: str, new: int | None, old_name: str, old: int | None, since: tuple) -> int | None:
    if old is not None:
        if new is not None:
            raise InvalidError(f"pass only `{new_name}`; `{old_name}` is its deprecated alias")
        deprecation_warning(since, f"`{old_name}` is deprecated; use `{new_name}` instead")
        return old
    return new


def parse_function_options(
    *,
    image: Any = None,
    secrets: Any = (),
    volumes: dict | None = None,
    network_file_systems: dict | None = None,
    env: dict | None = None,
    gpu: Any = None,
    cpu: Any = None,
    memory: Any = None,
    timeout: float | None = None,
    startup_timeout: float | None = None,
    retries: Any = None,
    min_containers: int | None = None,
    max_containers: int | None = None,
    buffer_containers: int | None = None,
    scaledown_window: int | None = None,
    keep_warm: int | None = None,
    concurrency_limit: int | None = None,
    container_idle_timeout: int | None = None,
    _experimental_buffer_containers: int | None = None,
    allow_concurrent_inputs: int | None = None,
    max_inputs: int | None = None,
    single_use_containers: bool = False,
    block_network: bool = False,
    enable_memory_snapshot: bool = False,
    serialized: bool = False,
    schedule: Any = None,
    **accepted: Any,  # documented options with no effect on one machine (cloud, region, proxy, ...)
) -> FunctionOptions:
    """Validate and normalise every documented option; deprecated aliases map to their new names."""
    from modal.image import Image
    from modal.secret import Secret

    if image is not None and not isinstance(image, Image):
        raise InvalidError(f"image= must be a modal.Image, got {type(image).__name__}")
    secrets = list(secrets or ())
    for s in secrets:
        if not isinstance(s, Secret):
            raise InvalidError(f"secrets= must be a list of modal.Secret, got {type(s).__name__}")
    if env is not None and (
        not isinstance(env, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in env.items())
    ):
        raise InvalidError("env= must be a dict of str to str (or None)")
    min_containers = _pick("min_containers", min_containers, "keep_warm", keep_warm, (2025, 2, 24))
    max_containers = _pick("max_containers", max_containers, "concurrency_limit", concurrency_limit, (2025, 2, 24))
    scaledown_window = _pick(
        "scaledown_window", scaledown_window, "container_idle_timeout", container_idle_timeout, (2025, 2, 24)
    )
    if _experimental_buffer_containers is not None:
        buffer_containers = _experimental_buffer_containers
    if allow_concurrent_inputs is not None:
        deprecation_warning((2025, 4, 9), "`allow_concurrent_inputs` is deprecated; use the @modal.concurrent decorator")
    for name, value in (("min_containers", min_containers), ("max_containers", max_containers),
                        ("buffer_containers", buffer_containers), ("max_inputs", max_inputs)):
        validate_positive_int(name, value, allow_zero=name != "max_inputs")
    if max_containers and min_containers and min_containers > max_containers:
        raise InvalidError(f"min_containers ({min_containers}) can't exceed max_containers ({max_containers})")
    if scaledown_window is not None and (not isinstance(scaledown_window, (int, float)) or scaledown_window < 2):
        raise InvalidError("scaledown_window must be a number of seconds >= 2")
    if single_use_containers:
        if max_inputs not in (None, 1):
            raise InvalidError("single_use_containers=True means max_inputs=1")
        max_inputs = 1
    if not isinstance(block_network, bool):
        raise InvalidError("block_network must be True or False")
    if schedule is not None and not hasattr(schedule, "to_json"):
        raise InvalidError("schedule= must be a modal.Cron or modal.Period")
    for key in accepted:
        if key not in _ACCEPTED_ONLY:
            raise InvalidError(f"unknown option {key!r}")
    return FunctionOptions(
        image=image,
        secrets=secrets,
        volumes=dict(volumes or {}),
        network_file_systems=dict(network_file_systems or {}),
        env=dict(env or {}),
        gpu=parse_gpu(gpu),
        cpu=parse_cpu(cpu),
        memory=parse_memory(memory),
        timeout=validate_timeout(timeout) or DEFAULT_TIMEOUT,
        startup_timeout=validate_timeout(startup_timeout, "startup_timeout") or 0.0,
        retries=parse_retries(retries),
        min_containers=min_containers or 0,
        max_containers=max_containers or 0,
        buffer_containers=buffer_containers or 0,
        scaledown_window=float(scaledown_window or 0),
        max_inputs=max_inputs or 0,
        max_concurrent_inputs=allow_concurrent_inputs or 0,
        target_concurrent_inputs=allow_concurrent_inputs or 0,
        block_network=block_network,
        enable_memory_snapshot=enable_memory_snapshot,
        serialized=serialized,
        schedule=schedule,
    )


# Documented options that are accepted and have no effect on a single machine yet.
_ACCEPTED_ONLY = {
    "mounts", "allow_cross_region_volumes", "ephemeral_disk", "proxy", "cloud", "region", "i6pn",
    "nonpreemptible", "restrict_modal_access", "include_source", "_experimental_scheduler_placement",
    "_experimental_proxy_ip", "_experimental_custom_scaling_factor", "_experimental_gpus",
}
