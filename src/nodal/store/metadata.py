"""The metadata store interface: apps, functions, secrets and durable calls.

Everything a client was told is accepted and would be lost with the process
(deployed apps, spawned inputs, secrets) goes through here. SQLite implements
it for one machine; PostgreSQL will for clusters.
"""

from __future__ import annotations

import abc
import contextlib
from dataclasses import dataclass


@dataclass
class AppRecord:
    app_id: str
    name: str
    environment: str
    state: int  # api_pb2.AppState value
    version: int
    description: str
    tag: str
    created_at: float
    stopped_at: float = 0.0
    code_json: str = "[]"  # [[path, sha256, mode], ...]


@dataclass
class FunctionRecord:
    function_id: str
    app_id: str
    tag: str
    definition: bytes  # serialized api_pb2.FunctionDef


@dataclass
class BoundFunctionRecord:
    """A class function bound to parameters and option overrides: the key of its own pool."""

    bound_id: str  # "<function_id>/<hash of params and overrides>"
    function_id: str
    params: bytes  # serialized class parameters
    overrides: bytes = b""  # serialized api_pb2.FunctionOverrides; empty = none


@dataclass
class CallRecord:
    call_id: str
    function_id: str
    input: bytes  # serialized api_pb2.Input
    created_at: float
    parent_input_id: str = ""
    done: bool = False
    outputs: bytes | None = None  # serialized api_pb2.CallGetOutputsResponse
    parked: bool = False  # accepted and waiting in the store only (the in-memory queue was full)


@dataclass
class DataObjectRecord:
    """A modal.Dict or modal.Queue: named per environment, or anonymous (ephemeral, name None)."""

    object_id: str
    kind: int  # api_pb2.DataObjectKind value
    name: str | None
    environment: str
    created_at: float
    app_id: str = ""  # ephemeral: the app it belongs to, deleted when that app stops ("" = none)


@dataclass
class SecretNameRecord:
    """A named secret: its (environment, name) and the `secrets` row holding its encrypted values."""

    name: str
    environment: str
    secret_id: str
    created_at: float
    updated_at: float


class MetadataStore(abc.ABC):
    # ---- apps ----
    @abc.abstractmethod
    def put_app(self, app: AppRecord) -> None:
        """Insert or replace the app row."""

    @abc.abstractmethod
    def get_app(self, app_id: str) -> AppRecord | None: ...

    @abc.abstractmethod
    def list_apps(self, environment: str | None = None) -> list[AppRecord]: ...

    @abc.abstractmethod
    def app_versions(self, name: str, environment: str) -> list[AppRecord]:
        """Every version of a named app, newest first."""

    # ---- functions ----
    @abc.abstractmethod
    def put_functions(self, functions: list[FunctionRecord]) -> None: ...

    @abc.abstractmethod
    def put_environment(self, name: str, created_at: float) -> bool:
        """Record an environment; False if it existed already."""

    @abc.abstractmethod
    def list_environments(self) -> dict[str, float]:
        """name -> created_at of every environment: created ones and those in use."""

    @abc.abstractmethod
    def delete_environment(self, name: str) -> bool: ...

    @abc.abstractmethod
    def list_functions(self, app_id: str) -> list[FunctionRecord]: ...

    @abc.abstractmethod
    def get_function(self, function_id: str) -> FunctionRecord | None: ...

    @abc.abstractmethod
    def put_bound_params(self, bound: BoundFunctionRecord) -> None:
        """Record a binding; the bound id is derived from its content, so re-putting one is a no-op."""

    @abc.abstractmethod
    def get_bound_params(self, bound_id: str) -> BoundFunctionRecord | None:
        """The parameters and option overrides of a bound class function."""

    # ---- secrets ----
    @abc.abstractmethod
    def put_secret(self, secret_id: str, env_json: str) -> None: ...

    @abc.abstractmethod
    def get_secret(self, secret_id: str) -> str | None: ...

    # ---- images ----
    @abc.abstractmethod
    def put_image(self, image_id: str, spec: bytes) -> None: ...

    @abc.abstractmethod
    def get_image(self, image_id: str) -> bytes | None: ...

    # ---- durable (spawned) calls ----
    @abc.abstractmethod
    def put_calls(self, calls: list[CallRecord]) -> None:
        """Persist accepted spawned calls before they are acknowledged."""

    @abc.abstractmethod
    def finish_call(self, call_id: str, outputs: bytes) -> None: ...

    @abc.abstractmethod
    def get_call(self, call_id: str) -> CallRecord | None: ...

    @abc.abstractmethod
    def unpark_calls(self, function_id: str, limit: int) -> list[CallRecord]:
        """The oldest parked calls of a function (at most `limit`), marked as no longer parked."""

    @abc.abstractmethod
    def park_pending(self) -> list[str]:
        """Park every unfinished call (after a restart); return the functions that have some."""

    @abc.abstractmethod
    def pending_calls(self) -> list[CallRecord]:
        """Spawned calls accepted but not finished (re-queued after a restart)."""

    # ---- dicts and queues (keys and values are cloudpickled bytes; each call is atomic) ----
    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """Group the dict and queue calls made inside into one transaction (group commit).

        Each call stays atomic on its own (a failing call undoes only its own changes), but
        nothing is durable until the block exits: answer the writes made inside only after
        that. An exception escaping the block rolls all of it back. Blocks may nest."""

    @abc.abstractmethod
    def put_data_object(self, obj: DataObjectRecord) -> None:
        """Insert a new object; a taken (kind, environment, name) raises the backend's integrity error."""

    @abc.abstractmethod
    def get_data_object(self, object_id: str) -> DataObjectRecord | None: ...

    @abc.abstractmethod
    def heartbeat_data_object(self, object_id: str, now: float) -> bool:
        """Mark an ephemeral object's owner alive; False if there is no such ephemeral object."""

    @abc.abstractmethod
    def refresh_ephemeral(self, now: float) -> None:
        """Treat every ephemeral object as just heard from (at start-up: owners get time to reconnect)."""

    @abc.abstractmethod
    def stale_ephemeral(self, before: float) -> list[str]:
        """Ephemeral objects last heard from before `before`."""

    @abc.abstractmethod
    def app_data_objects(self, app_id: str) -> list[str]:
        """The ids of the (ephemeral) objects that belong to app `app_id`."""

    @abc.abstractmethod
    def find_data_object(self, kind: int, name: str, environment: str) -> DataObjectRecord | None: ...

    @abc.abstractmethod
    def delete_data_object(self, object_id: str) -> None:
        """Delete the object with all its entries or items."""

    @abc.abstractmethod
    def dict_get(self, dict_id: str, key: bytes, min_updated_at: float) -> bytes | None:
        """The value of `key`, unless absent or last written before `min_updated_at` (expired)."""

    @abc.abstractmethod
    def dict_put(self, dict_id: str, entries: list[tuple[bytes, bytes]], now: float, skip_if_exists: bool,
                 min_updated_at: float) -> bool:
        """Write all entries; with skip_if_exists write none if any live key exists (returns False)."""

    @abc.abstractmethod
    def dict_put_one(self, dict_id: str, kind: int, key: bytes, value: bytes, now: float) -> bool:
        """Write one entry if object `dict_id` exists and is of `kind`; False, writing nothing, if
        not. One statement: no delete can come between the check and the write (the blocking
        `d[k] = v` costs one statement and one commit)."""

    @abc.abstractmethod
    def dict_pop(self, dict_id: str, key: bytes, min_updated_at: float) -> bytes | None: ...

    @abc.abstractmethod
    def dict_len(self, dict_id: str) -> int:
        """The number of entries, expired ones included (as Modal documents)."""

    @abc.abstractmethod
    def dict_clear(self, dict_id: str) -> None: ...

    @abc.abstractmethod
    def dict_contents(self, dict_id: str, min_updated_at: float) -> list[tuple[bytes, bytes]]: ...

    @abc.abstractmethod
    def queue_expire(self, queue_id: str, now: float) -> None:
        """Drop the partitions (and their items) whose TTL ran out before `now`."""

    @abc.abstractmethod
    def queue_put(self, queue_id: str, partition: bytes, values: list[bytes], expires_at: float) -> None: ...

    @abc.abstractmethod
    def queue_partition_state(self, queue_id: str, partition: bytes) -> tuple[float, int] | None:
        """(expires_at, number of items) of a partition, in one read; None when it has no row (it
        was never put to, was cleared, or its expiry was carried out)."""

    @abc.abstractmethod
    def queue_take(self, queue_id: str, partition: bytes, n: int, live_at: float | None = None) -> list[bytes]:
        """Remove and return the oldest `n` items (fewer if there are fewer) of a partition, in one
        atomic step. With `live_at`, only if the partition's TTL had not run out by then ([] if it
        had: `queue_expire` drops such a partition)."""

    @abc.abstractmethod
    def queue_items_after(self, queue_id: str, partition: bytes, after_item_id: int,
                          limit: int) -> list[tuple[int, bytes]]:
        """Items after `after_item_id`, oldest first, left in place (for Queue.iterate)."""

    @abc.abstractmethod
    def queue_len(self, queue_id: str, partition: bytes | None) -> int:
        """Items in one partition, or in all of them (partition None)."""

    @abc.abstractmethod
    def queue_partition_count(self, queue_id: str) -> int: ...

    @abc.abstractmethod
    def queue_has_partition(self, queue_id: str, partition: bytes) -> bool: ...

    @abc.abstractmethod
    def queue_clear(self, queue_id: str, partition: bytes | None) -> None:
        """Clear one partition, or every partition (partition None)."""

    # ---- schedules ----
    @abc.abstractmethod
    def schedule_state(self, function_id: str, anchor: float) -> tuple[float, float | None]:
        """(anchor, last fire time) of a scheduled function; first seen, it is recorded with `anchor`
        and no fire yet."""

    @abc.abstractmethod
    def claim_schedule_fire(self, function_id: str, previous: float | None, fire_at: float) -> bool:
        """Record a firing atomically, only if the last fire time is still `previous`: False when
        another runner (or an earlier life of this one) already fired it."""

    def claim_schedule_fires(
        self, claims: list[tuple[str, float | None]], fire_at: float, live_states: tuple[int, ...]
    ) -> list[str]:
        """Record at `fire_at` one firing of each (function_id, previous last fire time), each only
        if its last fire time is still `previous` and its function's app is in one of
        `live_states`; return the function ids claimed. Backends do it in one transaction (a pass
        of the schedule runner fires every due schedule at once); this default does it one by one."""
        claimed = []
        for function_id, previous in claims:
            rec = self.get_function(function_id)
            app = self.get_app(rec.app_id) if rec is not None else None
            if app is not None and app.state in live_states and self.claim_schedule_fire(function_id, previous, fire_at):
                claimed.append(function_id)
        return claimed

    # ---- secrets: all rows, deletion and names (values are ciphertext made by the secret service) ----
    @abc.abstractmethod
    def all_secrets(self) -> list[tuple[str, str]]:
        """Every (secret_id, env_json) row (for re-encryption at start)."""

    @abc.abstractmethod
    def delete_secret(self, secret_id: str) -> None: ...

    def update_secret_env(self, secret_id: str, env_json: str) -> bool:
        """Replace an existing row's ciphertext (keeping its other columns); False if no such row."""
        raise NotImplementedError

    @abc.abstractmethod
    def put_secret_name(self, name: str, environment: str, secret_id: str, now: float) -> None:
        """Point (environment, name) at a secret row: created now, or updated now if it exists."""

    @abc.abstractmethod
    def find_secret_name(self, name: str, environment: str) -> SecretNameRecord | None: ...

    @abc.abstractmethod
    def list_secret_names(self, environment: str) -> list[SecretNameRecord]: ...

    @abc.abstractmethod
    def delete_secret_name(self, name: str, environment: str) -> None: ...

    # ---- volumes (manifests as JSON {path: [sha256, size, mode, mtime]}) ----
    def volume_latest(self, volume_id: str) -> tuple[int, str] | None:
        """The newest (version, manifest JSON) of a volume, or None before its first commit."""
        raise NotImplementedError

    def volume_put_version(self, volume_id: str, version: int, manifest_json: str, now: float) -> None:
        """Record a new version; a taken version number raises the backend's integrity error."""
        raise NotImplementedError

    def list_data_objects(self, kind: int, environment: str) -> list[DataObjectRecord]:
        """The named (not ephemeral) objects of `kind` in `environment`, by name."""
        raise NotImplementedError

    def rename_data_object(self, object_id: str, name: str) -> None:
        """Give a named object a new name; a taken (kind, environment, name) raises the backend's integrity error."""
        raise NotImplementedError

    # ---- sandboxes (each kept as a serialized SandboxInfo) ----
    def put_sandbox(self, sandbox_id: str, app_id: str, finished: bool, created_at: float, info: bytes) -> None:
        """Insert or replace a sandbox's record."""
        raise NotImplementedError

    def get_sandbox(self, sandbox_id: str) -> bytes | None:
        """The serialized SandboxInfo of a sandbox, or None."""
        raise NotImplementedError

    def list_sandboxes(self, app_id: str | None, include_finished: bool) -> list[bytes]:
        """Serialized SandboxInfos, oldest first, of one app (or all), running only unless asked."""
        raise NotImplementedError

    # ---- identities: workspaces, users, tokens, the audit log, secret owners ----
    # Implemented by each backend (SQLite: backends/sqlite_identity.py); records in identity_records.py.
    def put_workspace(self, name: str, now: float) -> bool:
        """Create a workspace; False if it existed."""
        raise NotImplementedError

    def list_workspaces(self) -> dict[str, float]:
        raise NotImplementedError

    def put_user(self, workspace: str, name: str, now: float) -> None:
        raise NotImplementedError

    def put_token(self, token) -> None:
        raise NotImplementedError

    def get_token(self, token_id: str):
        raise NotImplementedError

    def list_tokens(self, workspace: str | None) -> list:
        raise NotImplementedError

    def revoke_token(self, token_id: str, now: float) -> bool:
        raise NotImplementedError

    def touch_token(self, token_id: str, now: float) -> None:
        raise NotImplementedError

    def count_tokens(self) -> int:
        raise NotImplementedError

    def append_audit(self, ts: float, workspace: str, actor: str, action: str, target: str, detail: str) -> None:
        raise NotImplementedError

    def list_audit(self, limit: int, workspace: str | None) -> list:
        raise NotImplementedError

    def set_secret_owner(self, secret_id: str, environment: str) -> None:
        raise NotImplementedError

    def secret_owner(self, secret_id: str) -> str | None:
        raise NotImplementedError

    # ---- the dashboard's call history (nodal/server/dashboard/history.py) ----
    # Input rows: (input_id, call_id, function_id, container_id, status, finished_at, duration,
    # exception, traceback); minute rows: (function_id, minute, calls, failures, latency_sum,
    # latency_n), added onto what is stored; total rows: (function_id, status, count), added too.
    def history_append(self, inputs: list[tuple], minutes: list[tuple], totals: list[tuple]) -> None:
        """Store finished inputs and add per-minute and per-status counts, all in one transaction."""
        raise NotImplementedError

    def history_recent(self, function_id: str, limit: int) -> list[tuple]:
        """A function's newest `limit` input rows, newest first."""
        raise NotImplementedError

    def history_call(self, call_id: str, limit: int) -> list[tuple]:
        """A call's input rows, oldest first."""
        raise NotImplementedError

    def history_minutes(self, function_id: str, since_minute: int) -> list[tuple]:
        """(minute, calls, failures, latency_sum, latency_n) from `since_minute` (unix time // 60) on."""
        raise NotImplementedError

    def history_totals(self, function_id: str) -> dict[str, int]:
        """Finished inputs of a function by status name."""
        raise NotImplementedError

    def history_trim(self, function_ids: list[str], keep: int, before: float, minutes_before: int) -> None:
        """Keep the newest `keep` rows of each of `function_ids`; drop rows finished before `before`
        and minute counts older than `minutes_before`."""
        raise NotImplementedError

    @abc.abstractmethod
    def close(self) -> None: ...
