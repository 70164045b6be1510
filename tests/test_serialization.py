"""Arguments and results on the wire: plain data takes the standard pickler, everything else
cloudpickle; either way the other side gets back an equal value of the same type."""

from __future__ import annotations

import enum
import pickle

import pytest

from modal._serialization import _plain, deserialize, serialize, serialize_args
from modal.exception import SerializationError


class Color(enum.IntEnum):  # an int subclass defined in a test module: not "plain"
    RED = 1


@pytest.mark.parametrize("value", [
    0, -(2**70), 1.5, "text", b"\x00bytes", True, None,
    (1, "a", [2.0, None]), {"k": [1, {"nested": b"x"}]}, [[[["deep"]]]],
    {1: "int keys"}, Color.RED, [Color.RED], list(range(100)), lambda x: x + 1,
])
def test_values_round_trip_with_their_types(value):
    back = deserialize(serialize(value))
    if callable(value):
        assert back(1) == 2
        return
    assert back == value and type(back) is type(value)
    args, kwargs = deserialize(serialize_args((value,), {"v": value}))
    assert args == (value,) and kwargs == {"v": value} and type(args[0]) is type(value)


def test_only_exact_builtin_data_is_plain():
    assert _plain(((1, "a"), {"k": [None]}))
    assert not _plain(Color.RED)  # a subclass: cloudpickle keeps its class
    assert not _plain({1: "x"})  # non-str keys
    assert not _plain([[[["too deep"]]]])
    assert not _plain(list(range(100)))  # large: cloudpickle (the check would cost more than it saves)


def test_plain_data_is_standard_pickle():
    assert pickle.loads(serialize({"a": 1})) == {"a": 1}


def test_unpicklable_argument_names_itself():
    import threading

    with pytest.raises(SerializationError, match="positional argument 0"):
        serialize_args((threading.Lock(),), {})
