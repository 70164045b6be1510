"""Fast unit tests for the SDK's leaf modules: exceptions, retries, config, validation, gpu, schedules, call graph."""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from modal import _validation, call_graph, exception, gpu, schedule
from modal import config as modal_config
from modal.exception import DeprecationError, InvalidError, NotFoundError
from modal.retries import Retries, parse_retries
from modal.schedule import Cron, Period, Schedule, next_fire

# ---------------------------------------------------------------- exceptions


@pytest.mark.parametrize(
    "name, base",
    [
        ("Error", Exception),
        ("AlreadyExistsError", exception.Error),
        ("AuthError", exception.Error),
        ("ClientClosed", exception.Error),
        ("ConnectionError", exception.Error),
        ("DeserializationError", exception.Error),
        ("ExecutionError", exception.Error),
        ("FilesystemExecutionError", exception.Error),
        ("InternalFailure", exception.Error),
        ("InvalidError", exception.Error),
        ("NotFoundError", exception.Error),
        ("RemoteError", exception.Error),
        ("RequestSizeError", exception.Error),
        ("SandboxTerminatedError", exception.Error),
        ("SerializationError", exception.Error),
        ("TimeoutError", exception.Error),
        ("VersionError", exception.Error),
        ("FunctionTimeoutError", exception.TimeoutError),
        ("InteractiveTimeoutError", exception.TimeoutError),
        ("MountUploadTimeoutError", exception.TimeoutError),
        ("OutputExpiredError", exception.TimeoutError),
        ("SandboxTimeoutError", exception.TimeoutError),
        ("VolumeUploadTimeoutError", exception.TimeoutError),
        ("DeprecationError", UserWarning),
        ("PendingDeprecationError", UserWarning),
        ("ServerWarning", UserWarning),
        ("InputCancellation", BaseException),
        ("ModuleNotMountable", Exception),
    ],
)
def test_exception_bases_match_modal(name, base):
    cls = getattr(exception, name)
    assert cls.__bases__ == (base,)
    assert cls.__module__ == "modal.exception"


def test_modal_errors_are_not_builtin_namesakes():
    assert not issubclass(exception.TimeoutError, TimeoutError)
    assert not issubclass(exception.ConnectionError, ConnectionError)


def test_input_cancellation_escapes_except_exception():
    with pytest.raises(exception.InputCancellation):
        try:
            raise exception.InputCancellation()
        except Exception:  # noqa: BLE001 - what user retry loops write
            pytest.fail("InputCancellation was caught by `except Exception`")


def test_deprecation_warning_points_at_user_line_and_dates_message():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        exception.deprecation_warning((2024, 5, 1), "use the new thing")
    [w] = caught
    assert w.category is DeprecationError
    assert str(w.message) == "2024-05-01: use the new thing"
    assert (w.filename, w.lineno) == (__file__, line)


def test_deprecation_warning_pending_category():
    with pytest.warns(exception.PendingDeprecationError):
        exception.deprecation_warning((2024, 5, 1), "soon", pending=True)


def test_deprecation_warning_visible_by_default():
    code = "from modal.exception import deprecation_warning\ndeprecation_warning((2024, 1, 2), 'old api')\n"
    env = dict(os.environ)
    env.pop("PYTHONWARNINGS", None)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, out.stderr
    assert "DeprecationError: 2024-01-02: old api" in out.stderr
    assert "<string>:2" in out.stderr  # attributed to the user's line


@pytest.mark.parametrize(
    "kind, cls",
    [
        ("NotFoundError", exception.NotFoundError),
        ("modal.exception.InvalidError", exception.InvalidError),
        ("TimeoutError", exception.TimeoutError),
        ("FunctionTimeoutError", exception.FunctionTimeoutError),
        ("KeyError", KeyError),
        ("InputCancellation", exception.InputCancellation),
    ],
)
def test_error_from_name(kind, cls):
    err = exception.error_from_name(kind, "boom")
    assert type(err) is cls
    assert err.args == ("boom",)


def test_error_from_name_unknown_keeps_kind():
    err = exception.error_from_name("QuotaExceeded", "too many")
    assert isinstance(err, exception.RemoteError)
    assert "QuotaExceeded" in str(err) and "too many" in str(err)
    assert isinstance(exception.error_from_name("SystemExit", "x"), exception.RemoteError)


def test_simulate_preemption_interrupts():
    previous = signal.getsignal(signal.SIGALRM)
    try:
        exception.simulate_preemption(1)
        with pytest.raises(KeyboardInterrupt):
            time.sleep(5)  # ok: the sleep the simulated preemption interrupts
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- retries


def test_retries_defaults_and_keyword_only():
    r = Retries(max_retries=3)
    assert (r.max_retries, r.backoff_coefficient) == (3, 2.0)
    assert (r.initial_delay, r.max_delay) == (timedelta(seconds=1), timedelta(seconds=60))
    with pytest.raises(TypeError):
        Retries(3)  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": 0},
        {"max_retries": 10},
        {"max_retries": 1, "backoff_coefficient": 1.0},
        {"max_retries": 1, "backoff_coefficient": 10.0},
        {"max_retries": 1, "initial_delay": 0.0},
        {"max_retries": 1, "initial_delay": 60.0},
        {"max_retries": 1, "max_delay": 1.0},
    ],
)
def test_retries_accepts_bounds(kwargs):
    Retries(**kwargs)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"max_retries": -1}, "non-negative"),
        ({"max_retries": 11}, "between 0 and 10"),
        ({"max_retries": 2.5}, "integer"),
        ({"max_retries": 1, "backoff_coefficient": 0.5}, "between 1.0"),
        ({"max_retries": 1, "backoff_coefficient": 10.5}, "10.0"),
        ({"max_retries": 1, "initial_delay": -1}, "0-60"),
        ({"max_retries": 1, "initial_delay": 61}, "0-60"),
        ({"max_retries": 1, "max_delay": 0.5}, "1-60"),
        ({"max_retries": 1, "max_delay": 61}, "1-60"),
        ({"max_retries": 1, "max_delay": "5"}, "number"),
    ],
)
def test_retries_rejects_out_of_range(kwargs, fragment):
    with pytest.raises(InvalidError, match=fragment):
        Retries(**kwargs)


def test_retries_exponential_backoff_is_capped():
    r = Retries(max_retries=6, backoff_coefficient=2.0, initial_delay=1.0, max_delay=10.0)
    assert [r.delay_for_attempt(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    fixed = Retries(max_retries=2, backoff_coefficient=1.0, initial_delay=3.0)
    assert [fixed.delay_for_attempt(n) for n in (1, 2)] == [3.0, 3.0]
    assert r.delay_for_attempt(10_000) == 10.0
    with pytest.raises(ValueError):
        r.delay_for_attempt(0)


def test_parse_retries():
    assert parse_retries(None) is None
    r = parse_retries(4)
    assert r is not None and r.max_retries == 4 and r.backoff_coefficient == 1.0
    assert [r.delay_for_attempt(n) for n in (1, 4)] == [1.0, 1.0]
    policy = Retries(max_retries=2)
    assert parse_retries(policy) is policy
    for bad in (True, "3", 2.0):
        with pytest.raises(InvalidError, match="integer or instance of modal.Retries"):
            parse_retries(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidError):
        parse_retries(11)


def test_retries_dict_roundtrip():
    r = Retries(max_retries=3, backoff_coefficient=1.5, initial_delay=0.5, max_delay=30)
    assert r._to_dict() == {
        "max_retries": 3,
        "backoff_coefficient": 1.5,
        "initial_delay": 0.5,
        "max_delay": 30.0,
    }
    assert Retries._from_dict(r._to_dict()) == r


# ---------------------------------------------------------------- config


@pytest.fixture
def cfg_path(tmp_path, monkeypatch):
    """An isolated config file location with no MODAL_* / NODAL_* overrides."""
    for var in list(os.environ):
        if var.startswith(("MODAL_", "NODAL_")):
            monkeypatch.delenv(var)
    path = tmp_path / "modal.toml"
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(path))
    return path


def test_config_defaults_without_file(cfg_path):
    c = modal_config.config
    assert c["loglevel"] == "WARNING"
    assert c["server_url"] is None
    assert (c["traceback"], c["force_build"], c["automount"], c["strict_parameters"]) == (
        False,
        False,
        True,
        False,
    )
    assert c["token_id"] is None and c["environment"] is None
    assert c["nodal_home"] == os.path.expanduser("~/.nodal")
    assert modal_config.config_profiles() == []
    assert set(c.to_dict()) >= {"loglevel", "server_url", "token_id", "token_secret", "image_builder_version"}


def test_config_reads_active_profile_and_env_wins(cfg_path, monkeypatch):
    cfg_path.write_text(
        '[default]\ntoken_id = "ak-default"\n\n'
        '[work]\nactive = true\ntoken_id = "ak-work"\nloglevel = "debug"\ntraceback = true\n'
    )
    c = modal_config.config
    assert modal_config.config_profiles() == ["default", "work"]
    assert c["token_id"] == "ak-work" and c["loglevel"] == "DEBUG" and c["traceback"] is True
    assert c.get("token_id", profile="default") == "ak-default"
    monkeypatch.setenv("MODAL_PROFILE", "default")
    assert c["token_id"] == "ak-default"
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-env")
    assert c["token_id"] == "ak-env"
    assert c.get("token_id", use_env=False) == "ak-default"


@pytest.mark.parametrize(
    "raw, expected",
    [("1", True), ("true", True), ("True", True), ("0", False), ("false", False), ("", False)],
)
def test_config_bool_env_parsing(cfg_path, monkeypatch, raw, expected):
    monkeypatch.setenv("MODAL_FORCE_BUILD", raw)
    assert modal_config.config["force_build"] is expected


def test_config_nodal_home_and_invalid_values(cfg_path, monkeypatch, tmp_path):
    monkeypatch.setenv("NODAL_HOME", str(tmp_path / "home"))
    assert modal_config.config["nodal_home"] == str(tmp_path / "home")
    monkeypatch.setenv("MODAL_LOGS_TIMEOUT", "soon")
    with pytest.raises(InvalidError, match="logs_timeout"):
        modal_config.config["logs_timeout"]


def test_config_store_preserves_profiles_and_is_private(cfg_path):
    cfg_path.write_text('[other]\ntoken_id = "ak-other"\n')
    modal_config._store_user_config({"token_id": "ak-new", "token_secret": "as-new"}, profile="mine")
    assert stat.S_IMODE(cfg_path.stat().st_mode) == 0o600
    c = modal_config.config
    assert c.get("token_id", profile="other") == "ak-other"
    assert c.get("token_secret", profile="mine") == "as-new"
    modal_config.config_set_active_profile("mine")
    assert modal_config._profile == "mine" and c["token_id"] == "ak-new"
    modal_config._store_user_config({"environment": "dev"}, active_profile="other")
    assert c["token_id"] == "ak-other"
    with pytest.raises(NotFoundError, match="nope"):
        modal_config.config_set_active_profile("nope")


def test_config_rejects_malformed_file(cfg_path):
    cfg_path.write_text("this is = = not toml")
    with pytest.raises(InvalidError, match=str(cfg_path)):
        modal_config.config["token_id"]
    cfg_path.write_text('token_id = "flat"\n')
    with pytest.raises(InvalidError, match="table sections"):
        modal_config.config["token_id"]


def test_config_check_multiple_active(cfg_path):
    cfg_path.write_text("[a]\nactive = true\n[b]\nactive = true\n")
    with pytest.raises(InvalidError, match="More than one"):
        modal_config._check_config()


def test_config_logger():
    assert modal_config.logger.name == "modal-client"


# ---------------------------------------------------------------- validation


def test_parse_cpu():
    assert _validation.parse_cpu(None) == (0.0, 0.0)
    assert _validation.parse_cpu(2) == (2.0, 0.0)
    assert _validation.parse_cpu((0.5, 4)) == (0.5, 4.0)
    for bad, fragment in [
        (-1, "request"),
        ((2, 1), "lower than request"),
        ((1, 0), "limit"),
        ("2", "number"),
        ((1,), "tuple"),
    ]:
        with pytest.raises(InvalidError, match=fragment):
            _validation.parse_cpu(bad)  # type: ignore[arg-type]


def test_parse_memory():
    assert _validation.parse_memory(None) == (0, 0)
    assert _validation.parse_memory(1024) == (1024, 0)
    assert _validation.parse_memory((512, 2048)) == (512, 2048)
    for bad, fragment in [
        (-5, "request"),
        ((2048, 512), "lower than request"),
        (1.5, "integer"),
        ((1, 2, 3), "tuple"),
    ]:
        with pytest.raises(InvalidError, match=fragment):
            _validation.parse_memory(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, ""),
        ("t4", "T4"),
        ("H100", "H100"),
        ("h100:2", "H100:2"),
        ("a100", "A100-40GB"),
        ("A100-80GB:4", "A100-80GB:4"),
        ("a100-40gb", "A100-40GB"),
        ("l40s:1", "L40S"),
        ("h200", "H200"),
        ("b200:8", "B200:8"),
        ("any", "ANY"),
        (["h100", "a100-80gb:2"], "H100,A100-80GB:2"),
    ],
)
def test_parse_gpu(value, expected):
    assert _validation.parse_gpu(value) == expected


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("v100", "Invalid GPU type.*t4, l4, a10g"),
        ("h100:x", "Invalid GPU count"),
        ("h100:0", "between 1 and 8"),
        ("h100:9", "between 1 and 8"),
        (2, "Invalid GPU config"),
        (True, "Invalid GPU config"),
        ([], "empty"),
        (["h100", "H100"], "more than once"),
    ],
)
def test_parse_gpu_rejects(value, fragment):
    with pytest.raises(InvalidError, match=fragment):
        _validation.parse_gpu(value)


def test_validate_timeout_and_positive_int():
    assert _validation.validate_timeout(None) is None
    assert _validation.validate_timeout(300) == 300
    assert _validation.validate_timeout(86400) == 86400
    for bad, fragment in [
        (0, "positive"),
        (-1, "positive"),
        (86401, "24 hours"),
        ("60", "number"),
        (True, "number"),
    ]:
        with pytest.raises(InvalidError, match=fragment):
            _validation.validate_timeout(bad)  # type: ignore[arg-type]
    assert _validation.validate_positive_int("max_containers", 3) == 3
    assert _validation.validate_positive_int("buffer_containers", 0, allow_zero=True) == 0
    with pytest.raises(InvalidError, match="max_containers.*positive"):
        _validation.validate_positive_int("max_containers", 0)
    with pytest.raises(InvalidError, match="non-negative"):
        _validation.validate_positive_int("buffer_containers", -1, allow_zero=True)
    with pytest.raises(InvalidError, match="integer"):
        _validation.validate_positive_int("max_inputs", 1.5)  # type: ignore[arg-type]


# ---------------------------------------------------------------- gpu classes


@pytest.mark.parametrize(
    "make, canonical",
    [
        (lambda: gpu.T4(), "T4"),
        (lambda: gpu.T4(2), "T4:2"),
        (lambda: gpu.L4(count=3), "L4:3"),
        (lambda: gpu.A10G(count=4), "A10G:4"),
        (lambda: gpu.A100(), "A100-40GB"),
        (lambda: gpu.A100(size="80GB", count=2), "A100-80GB:2"),
        (lambda: gpu.H100(count=8), "H100:8"),
        (lambda: gpu.L40S(), "L40S"),
        (lambda: gpu.Any(), "ANY"),
    ],
)
def test_gpu_classes_are_deprecated_and_canonical(make, canonical):
    with pytest.warns(DeprecationError, match=f'gpu="{canonical}"') as record:
        obj = make()
    assert record[0].filename == __file__  # points at the user's code, not modal/gpu.py
    assert _validation.parse_gpu(obj) == canonical == str(obj)


def test_gpu_class_errors():
    with pytest.raises(ValueError, match="40GB or 80GB"):
        gpu.A100(size="20GB")
    with pytest.raises(TypeError):
        gpu.H100(2)  # type: ignore[misc]  # count is keyword-only, as in Modal
    with pytest.raises(InvalidError, match="GPU count"):
        gpu.T4(count=0)


# ---------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    "expr",
    [
        "* * * * *",
        "5 4 * * *",
        "0 9 * * 4",
        "*/15 0-6,18-23 1,15 JAN-MAR mon-fri",
        "0 0 * * 7",
        "5/10 * * * *",
    ],
)
def test_cron_accepts_standard_syntax(expr):
    assert Schedule.from_json(Cron(expr).to_json()) == Cron(expr)


@pytest.mark.parametrize(
    "expr, fragment",
    [
        ("* * * *", "expected 5"),
        ("* * * * * *", "expected 5"),
        ("60 * * * *", "minute field '60'"),
        ("* 24 * * *", "hour field"),
        ("* * 0 * *", "day-of-month field"),
        ("* * * 13 *", "month field"),
        ("* * * foo *", "month field"),
        ("* * * * 8", "day-of-week field"),
        ("*/0 * * * *", "minute field.*step"),
        ("5-1 * * * *", "backwards"),
        ("0 0 30 2 *", "never"),
    ],
)
def test_cron_rejects_with_field_name(expr, fragment):
    with pytest.raises(InvalidError, match=fragment):
        Cron(expr)


def test_cron_timezone_and_json():
    c = Cron("0  9 * *   4", timezone="Europe/Paris")
    assert c.cron_string == "0 9 * * 4"
    assert c.to_json() == '{"cron_string":"0 9 * * 4","timezone":"Europe/Paris","type":"cron"}'
    assert Cron.from_json(c.to_json()) == c
    assert Cron("0 9 * * 4") != c
    with pytest.raises(InvalidError, match="timezone"):
        Cron("* * * * *", timezone="Mars/Olympus")
    with pytest.raises(InvalidError, match="not a Cron"):
        Cron.from_json(Period(days=1).to_json())
    with pytest.raises(InvalidError, match="Invalid schedule JSON"):
        Schedule.from_json("{not json")


def test_period_validation_and_json():
    p = Period(days=1, seconds=1.5)
    assert Schedule.from_json(p.to_json()) == p
    assert Period(seconds=60) == Period(seconds=60.0)
    assert Period(minutes=1) != Period(seconds=60)
    for kwargs, fragment in [
        ({}, "positive"),
        ({"days": 1.5}, "only seconds can be a float"),
        ({"hours": -1}, "negative"),
        ({"seconds": float("inf")}, "finite"),
        ({"weeks": True}, "integer"),
    ]:
        with pytest.raises(InvalidError, match=fragment):
            Period(**kwargs)


@pytest.mark.parametrize(
    "expr, tz, after, expected",
    [
        (
            "* * * * *",
            "UTC",
            datetime(2024, 1, 1, 10, 0, 0, tzinfo=UTC),
            datetime(2024, 1, 1, 10, 1, tzinfo=UTC),
        ),
        ("* * * * *", "UTC", datetime(2024, 1, 1, 10, 0, 30), datetime(2024, 1, 1, 10, 1, tzinfo=UTC)),
        ("5 4 * * *", "UTC", datetime(2024, 1, 1, 4, 5, tzinfo=UTC), datetime(2024, 1, 2, 4, 5, tzinfo=UTC)),
        (
            "0 9 * * 4",
            "UTC",
            datetime(2024, 1, 1, tzinfo=UTC),
            datetime(2024, 1, 4, 9, 0, tzinfo=UTC),
        ),  # Thursday
        ("0 0 29 2 *", "UTC", datetime(2024, 3, 1, tzinfo=UTC), datetime(2028, 2, 29, tzinfo=UTC)),
        (
            "0 9 * * *",
            "America/New_York",
            datetime(2024, 7, 1, 12, 0, tzinfo=UTC),
            datetime(2024, 7, 1, 13, 0, tzinfo=UTC),
        ),
    ],
)
def test_next_fire_cron(expr, tz, after, expected):
    assert next_fire(Cron(expr, timezone=tz).to_json(), after) == expected


def test_next_fire_cron_runs_once_when_clocks_go_back():
    ny = ZoneInfo("America/New_York")
    c = Cron("30 1 * * *", timezone="America/New_York")
    first = next_fire(c.to_json(), datetime(2024, 11, 2, 12, 0, tzinfo=ny))
    second = next_fire(c.to_json(), first)
    assert first.astimezone(UTC) == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # 01:30 EDT
    assert second.astimezone(UTC) == datetime(2024, 11, 4, 6, 30, tzinfo=UTC)  # next day, 01:30 EST
    # the same whatever timezone the caller's clock is in
    assert next_fire(c.to_json(), first.astimezone(UTC)) == second
    assert (
        next_fire(c.to_json(), datetime(2024, 11, 3, 6, 10, tzinfo=UTC)) == second
    )  # 01:10 EST, already ran
    # a job with a wildcard hour keeps running through the repeated hour
    every_hour = Cron("0 * * * *", timezone="America/New_York").to_json()
    assert next_fire(every_hour, datetime(2024, 11, 3, 5, 30, tzinfo=UTC)) == datetime(
        2024, 11, 3, 6, 0, tzinfo=UTC
    )


def test_next_fire_period_calendar_semantics():
    ny = ZoneInfo("America/New_York")
    before_dst = datetime(2024, 3, 9, 9, 0, tzinfo=ny)
    # days=1 keeps the wall-clock time across the DST change; hours=24 is elapsed time.
    assert next_fire(Period(days=1).to_json(), before_dst) == datetime(2024, 3, 10, 9, 0, tzinfo=ny)
    assert next_fire(Period(hours=24).to_json(), before_dst) == datetime(2024, 3, 10, 10, 0, tzinfo=ny)
    # hours are elapsed time even through the hour repeated when clocks go back
    fall = datetime(2024, 11, 3, 1, 30, tzinfo=ny)  # 01:30 EDT
    assert next_fire(Period(hours=1).to_json(), fall).astimezone(UTC) == datetime(
        2024, 11, 3, 6, 30, tzinfo=UTC
    )
    # months=1 from a fixed start stays on the same day (clamped in short months, no drift).
    start = datetime(2024, 1, 31, 9, 0, tzinfo=UTC)
    fires, t = [], start
    for _ in range(3):
        t = next_fire(Period(months=1).to_json(), t, start=start)
        fires.append(t.date().isoformat())
    assert fires == ["2024-02-29", "2024-03-31", "2024-04-30"]
    # after a long gap: the next slot, not a backlog.
    assert next_fire(
        Period(minutes=15), datetime(2024, 1, 1, 10, 7, tzinfo=UTC), start=datetime(2024, 1, 1, tzinfo=UTC)
    ) == datetime(2024, 1, 1, 10, 15, tzinfo=UTC)
    assert next_fire(Period(seconds=1.5).to_json(), datetime(2024, 1, 1)) == datetime(
        2024, 1, 1, 0, 0, 1, 500000, tzinfo=UTC
    )


# ---------------------------------------------------------------- call graph


def test_input_status_values():
    S = call_graph.InputStatus
    assert [(s.name, int(s)) for s in S] == [
        ("PENDING", 0),
        ("SUCCESS", 1),
        ("FAILURE", 2),
        ("TERMINATED", 3),
        ("TIMEOUT", 4),
        ("INIT_FAILURE", 5),
    ]
    assert S(99) is S.PENDING


def test_input_info_fields():
    names = [f.name for f in dataclasses.fields(call_graph.InputInfo)]
    assert names == [
        "input_id",
        "function_call_id",
        "task_id",
        "status",
        "function_name",
        "module_name",
        "children",
    ]
    leaf = call_graph.InputInfo("in-2", "fc-2", "ta-2", call_graph.InputStatus.SUCCESS, "g", "m", [])
    root = call_graph.InputInfo("in-1", "fc-1", "ta-1", call_graph.InputStatus.PENDING, "f", "m", [leaf])
    assert root.children[0].status == call_graph.InputStatus.SUCCESS


def test_schedule_module_names():
    assert issubclass(schedule.Cron, schedule.Schedule) and issubclass(schedule.Period, schedule.Schedule)
