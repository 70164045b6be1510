"""modal.Cron and modal.Period: when a scheduled Function runs, and when it runs next.

Schedules are validated where the user writes them (`modal.Cron("61 * * * *")` fails at
once, naming the bad field), travel to the server as canonical JSON (`to_json` /
`Schedule.from_json`), and the server's scheduler asks `next_fire` for the next run.
Cron iteration uses the `croniter` package; Period arithmetic is done here: calendar units
(years, months, weeks, days) move the wall clock, time units (hours, minutes, seconds) are
elapsed time.
"""

from __future__ import annotations

import calendar
import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .exception import InvalidError

# (name, low, high, names accepted for values) for the five standard cron fields.
_MONTH_NAMES = {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_DAY_NAMES = {d: i for i, d in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
_CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day-of-month", 1, 31, {}),
    ("month", 1, 12, _MONTH_NAMES),
    ("day-of-week", 0, 7, _DAY_NAMES),
)
_CRON_HELP = (
    "expected 5 space-separated fields: minute hour day-of-month month day-of-week, e.g. '0 9 * * MON'"
)


def _parse_cron_field(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    """The values one cron field allows; ValueError (with the reason) if it is malformed."""

    def value(token: str) -> int:
        if token.lower() in names:
            return names[token.lower()]
        if not (token.isascii() and token.isdigit()):
            raise ValueError(f"{token!r} is not a number" + (" or a name" if names else ""))
        number = int(token)
        if not low <= number <= high:
            raise ValueError(f"{number} is out of range {low}-{high}")
        return number

    allowed: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) < 1:
                raise ValueError(f"step {step_text!r} must be a positive integer")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            start_text, _, end_text = base.partition("-")
            first, last = value(start_text), value(end_text)
            if first > last:
                raise ValueError(f"range {base!r} runs backwards")
        elif base:
            first = value(base)
            last = high if step_text else first
        else:
            raise ValueError(f"empty item in {text!r}")
        allowed.update(range(first, last + 1, step))
    return allowed


class Schedule:
    """Schedules represent a time frame to repeatedly run a Modal function."""

    def _to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def to_json(self) -> str:
        """Canonical JSON: equal schedules give equal strings (sorted keys, no spaces)."""
        return json.dumps(self._to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, s: str) -> Schedule:
        """Rebuild (and re-validate) a schedule from `to_json` output."""
        try:
            data = json.loads(s)
            kind = data.pop("type")
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise InvalidError(f"Invalid schedule JSON {s!r}: {exc}") from None
        schedule: Schedule
        if kind == "cron":
            schedule = Cron(**data)
        elif kind == "period":
            schedule = Period(**data)
        else:
            raise InvalidError(f"Invalid schedule JSON {s!r}: unknown type {kind!r}")
        if not isinstance(schedule, cls):
            raise InvalidError(f"Schedule JSON {s!r} is not a {cls.__name__}")
        return schedule

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())


class Cron(Schedule):
    """Cron jobs are a type of schedule, specified using the Unix cron tab syntax.

    The alternative schedule type is the `modal.Period`.

    **Usage**

    ```python
    import modal
    app = modal.App()

    @app.function(schedule=modal.Cron("* * * * *"))
    def f():
        print("This function will run every minute")
    ```

    We can specify different schedules with cron strings, for example:

    ```python
    modal.Cron("5 4 * * *")  # run at 4:05am every night
    modal.Cron("0 9 * * 4")  # runs every Thursday 9am
    ```
    """

    cron_string: str
    timezone: str

    def __init__(self, cron_string: str, timezone: str = "UTC") -> None:
        """Construct a schedule that runs according to a cron expression string."""
        if not isinstance(cron_string, str):
            raise InvalidError(f"Invalid cron string {cron_string!r}: it must be a str ({_CRON_HELP}).")
        fields = cron_string.split()
        if len(fields) != 5:
            raise InvalidError(f"Invalid cron string {cron_string!r}: {_CRON_HELP}.")
        sets = []
        for text, (name, low, high, names) in zip(fields, _CRON_FIELDS):
            try:
                sets.append(_parse_cron_field(text, low, high, names))
            except ValueError as exc:
                raise InvalidError(
                    f"Invalid cron string {cron_string!r}: bad {name} field {text!r}: {exc}. "
                    f"Allowed: {low}-{high}, '*', lists (1,2), ranges (1-5) and steps (*/15)."
                ) from None
        days, months = sets[2], sets[3]
        if fields[4] == "*" and fields[2] != "*":
            longest = max(29 if m == 2 else calendar.monthrange(2001, m)[1] for m in months)
            if min(days) > longest:
                raise InvalidError(
                    f"Invalid cron string {cron_string!r}: day-of-month {fields[2]!r} never occurs "
                    f"in month {fields[3]!r}, so it would never run."
                )
        if not isinstance(timezone, str):
            raise InvalidError(f"Invalid timezone {timezone!r}: use an IANA name such as 'America/New_York'.")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidError(
                f"Invalid timezone {timezone!r}: use an IANA name such as 'UTC' or 'America/New_York'."
            ) from None
        self.cron_string = " ".join(fields)
        self.timezone = timezone

    def _to_dict(self) -> dict[str, Any]:
        return {"type": "cron", "cron_string": self.cron_string, "timezone": self.timezone}

    def __repr__(self) -> str:
        tz = "" if self.timezone == "UTC" else f", timezone={self.timezone!r}"
        return f"Cron({self.cron_string!r}{tz})"


_PERIOD_INT_FIELDS = ("years", "months", "weeks", "days", "hours", "minutes")


class Period(Schedule):
    """Create a schedule that runs every given time interval.

    **Usage**

    ```python
    import modal
    app = modal.App()

    @app.function(schedule=modal.Period(days=1))
    def f():
        print("This function will run every day")

    modal.Period(hours=4)          # runs every 4 hours
    modal.Period(minutes=15)       # runs every 15 minutes
    modal.Period(seconds=math.pi)  # runs every 3.141592653589793 seconds
    ```

    Only `seconds` can be a float. All other arguments are integers.

    Note that `days=1` will trigger the function the same time every day.
    This does not have the same behavior as `seconds=84000` since days have
    different lengths due to daylight savings and leap seconds. Similarly,
    using `months=1` will trigger the function on the same day each month.

    This behaves similar to the dateutil package.
    """

    def __init__(
        self,
        years: int = 0,
        months: int = 0,
        weeks: int = 0,
        days: int = 0,
        hours: int = 0,
        minutes: int = 0,
        seconds: float = 0,
    ) -> None:
        values = dict(zip(_PERIOD_INT_FIELDS, (years, months, weeks, days, hours, minutes)))
        for name, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise InvalidError(
                    f"Period {name}={value!r} must be an integer (only seconds can be a float)."
                )
            if value < 0:
                raise InvalidError(f"Period {name}={value} must not be negative.")
        if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
            raise InvalidError(f"Period seconds={seconds!r} must be a finite number.")
        if seconds < 0:
            raise InvalidError(f"Period seconds={seconds} must not be negative.")
        if seconds == 0 and not any(values.values()):
            raise InvalidError("Period must be positive: set at least one of years, months, ... seconds.")
        self.years, self.months, self.weeks, self.days, self.hours, self.minutes = values.values()
        # 60.0 and 60 are the same period: keep one canonical form.
        self.seconds: float = int(seconds) if float(seconds).is_integer() else float(seconds)

    def _to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {name: getattr(self, name) for name in _PERIOD_INT_FIELDS}
        return {"type": "period", **data, "seconds": self.seconds}

    def __repr__(self) -> str:
        parts = [f"{k}={v}" for k, v in self._to_dict().items() if k != "type" and v]
        return f"Period({', '.join(parts)})"


# --- next fire time ----------------------------------------------------------------------


def _utc(dt: datetime) -> datetime:
    """As an aware UTC datetime; naive datetimes are taken to be UTC.

    Comparisons go through UTC because Python compares two datetimes sharing a tzinfo by
    wall clock, which gets the hour repeated when clocks go back wrong.
    """
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _add_calendar(wall: datetime, years: int, months: int, days: int) -> datetime:
    """Move a naive wall-clock time by calendar units; the day is clamped to the month's length."""
    month_index = wall.month - 1 + months + 12 * years
    year, month = wall.year + month_index // 12, month_index % 12 + 1
    day = min(wall.day, calendar.monthrange(year, month)[1])
    return wall.replace(year=year, month=month, day=day) + timedelta(days=days)


def _period_fire(period: Period, start: datetime, k: int) -> datetime:
    """The k-th fire time after `start` (aware), computed from `start` so months never drift."""
    wall = _add_calendar(
        start.replace(tzinfo=None), k * period.years, k * period.months, k * (7 * period.weeks + period.days)
    )
    local = wall.replace(tzinfo=start.tzinfo, fold=start.fold)
    elapsed = timedelta(seconds=k * (3600 * period.hours + 60 * period.minutes + period.seconds))
    return (local.astimezone(UTC) + elapsed).astimezone(start.tzinfo)


def _next_period(period: Period, after: datetime, start: datetime) -> datetime:
    approx_days = 365.2425 * period.years + 30.436875 * period.months + 7 * period.weeks + period.days
    approx = approx_days * 86400 + 3600 * period.hours + 60 * period.minutes + period.seconds
    k = max(1, int((after - start).total_seconds() // approx) + 1)
    while _utc(_period_fire(period, start, k)) <= after:
        k += 1
    while k > 1 and _utc(_period_fire(period, start, k - 1)) > after:
        k -= 1
    return _period_fire(period, start, k)


def _next_cron(cron: Cron, after: datetime) -> datetime:
    """The next croniter match strictly after `after` (aware UTC), in the schedule's timezone."""
    try:
        from croniter import croniter
    except ImportError:  # pragma: no cover - croniter is a dependency
        raise ModuleNotFoundError("Computing cron fire times needs the `croniter` package.") from None
    tz = ZoneInfo(cron.timezone)
    fixed_hour = not cron.cron_string.split()[1].startswith("*")
    it = croniter(cron.cron_string, after.astimezone(tz))
    while True:
        result: datetime = it.get_next(datetime)
        if _utc(result) <= after:
            continue
        # When clocks go back, a wall-clock time occurs twice. croniter fires at both; cron
        # runs a job with a fixed hour once (the first time), as Vixie cron does.
        wall = result.replace(tzinfo=None)
        first = wall.replace(tzinfo=tz, fold=0)
        if fixed_hour and first.utcoffset() != result.utcoffset() and _utc(first) < _utc(result):
            continue
        return result


def next_fire(schedule_json: str | Schedule, after: datetime, start: datetime | None = None) -> datetime:
    """The first time strictly after `after` at which the schedule fires.

    Cron: the next matching minute in the schedule's timezone. When clocks go forward, a
    time in the skipped hour runs at the end of the gap; when they go back, a job with a fixed
    hour runs once. (Known croniter limit: a minute-level job with a wildcard hour skips the
    repeated hour.)
    Period: `start + k * period` for the smallest k >= 1 after `after`; `start` defaults to
    `after` (so the result is one period later). Computing from a fixed `start` keeps
    `months=1` on the same day each month (Jan 31 → Feb 29 → Mar 31).

    Naive datetimes are UTC. The result is aware, in `after`'s timezone (UTC if naive).
    """
    schedule = schedule_json if isinstance(schedule_json, Schedule) else Schedule.from_json(schedule_json)
    out_tz = after.tzinfo or UTC
    if isinstance(schedule, Cron):
        return _next_cron(schedule, _utc(after)).astimezone(out_tz)
    assert isinstance(schedule, Period)
    anchor = start if start is not None else after
    anchor = anchor if anchor.tzinfo is not None else anchor.replace(tzinfo=UTC)
    return _next_period(schedule, _utc(after), anchor).astimezone(out_tz)
