"""What `modal nfs`, `modal dict` and `modal queue` share: listing named objects of one kind,
and `create` that refuses an existing name."""

from __future__ import annotations

from typing import Any

from modal.cli.app_cmds import _client, _environment, _iso, _print_json, _print_table, _rpc, _when


def list_objects(kind: int, title: str, env: str | None, as_json: bool) -> None:
    """Print the named objects of `kind` in the environment: a table (TSV off a terminal) or JSON."""
    from nodal.proto import api_pb2

    client = _client()
    objs = list(
        _rpc(
            client.stub.DataObjectList(api_pb2.DataObjectListRequest(kind=kind, environment_name=_environment(env)))
        ).objects
    )
    if as_json:
        _print_json(
            [{"name": o.name, "environment": o.environment_name, "created_at": _iso(o.created_at)} for o in objs]
        )
        return
    _print_table(title, ["Name", "Created at"], [[o.name, _when(o.created_at)] for o in objs])


def create_object(cls: Any, name: str, env: str | None) -> Any:
    """Create the named object; AlreadyExistsError when the name is taken in the environment."""
    from modal.exception import AlreadyExistsError, NotFoundError

    environment = _environment(env) or None
    try:
        cls.from_name(name, environment_name=environment, client=_client()).hydrate()
    except NotFoundError:
        pass
    else:
        raise AlreadyExistsError(f"{cls.__name__} {name!r} already exists in environment {environment or 'main'!r}")
    return cls.from_name(name, environment_name=environment, create_if_missing=True, client=_client()).hydrate()


def existing(cls: Any, name: str, env: str | None) -> Any:
    """A hydrated handle to an existing object (NotFoundError when there is none)."""
    return cls.from_name(name, environment_name=_environment(env) or None, client=_client()).hydrate()


def display_value(value: Any, limit: int | None = None) -> str:
    """How a key or value prints: strings as they are, anything else as its repr (cut at `limit`)."""
    text = value if isinstance(value, str) else repr(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def json_value(value: Any) -> Any:
    """A value as JSON sees it: values JSON keeps exactly as they are, anything else (a tuple, a
    set, an object) as its repr."""
    import json

    try:
        if json.loads(json.dumps(value)) == value and type(json.loads(json.dumps(value))) is type(value):
            return value
    except (TypeError, ValueError):
        pass
    return repr(value)


def loads(data: bytes) -> Any:
    """Unpickle an entry; one the CLI cannot rebuild (its class is not importable here) shows as a note."""
    from modal._serialization import deserialize

    try:
        return deserialize(data)
    except Exception as exc:  # noqa: BLE001 - printing must not fail on one odd entry
        return f"<cannot unpickle here: {type(exc).__name__}>"
