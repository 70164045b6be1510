"""modal.Retries: a Function's retry policy, validated as Modal validates it, plus its backoff.

The SDK validates the policy when the user writes it (so a bad value fails at decoration
time with a message saying what to change); the server uses `delay_for_attempt` to wait
between attempts.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from .exception import InvalidError

MAX_RETRIES = 10
MIN_BACKOFF_COEFFICIENT = 1.0
MAX_BACKOFF_COEFFICIENT = 10.0
MAX_INITIAL_DELAY = 60.0  # seconds
MIN_MAX_DELAY = 1.0  # seconds
MAX_MAX_DELAY = 60.0  # seconds


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Retries:
    """Adds a retry policy to a Modal function.

    **Usage**

    ```python
    import modal
    app = modal.App()

    # Basic configuration.
    # This sets a policy of max 4 retries with 1-second delay between failures.
    @app.function(retries=4)
    def f():
        pass

    # Fixed-interval retries with 3-second delay between failures.
    @app.function(
        retries=modal.Retries(
            max_retries=2,
            backoff_coefficient=1.0,
            initial_delay=3.0,
        )
    )
    def g():
        pass

    # Exponential backoff, with retry delay doubling after each failure.
    @app.function(
        retries=modal.Retries(
            max_retries=4,
            backoff_coefficient=2.0,
            initial_delay=1.0,
        )
    )
    def h():
        pass
    ```
    """

    max_retries: int
    backoff_coefficient: float
    initial_delay: timedelta
    max_delay: timedelta

    def __init__(
        self,
        *,
        # The maximum number of retries that can be made in the presence of failures.
        max_retries: int,
        # Coefficent controlling how much the retry delay increases each retry attempt.
        # A backoff coefficient of 1.0 creates fixed-delay where the delay period always equals the initial delay.
        backoff_coefficient: float = 2.0,
        # Number of seconds that must elapse before the first retry occurs.
        initial_delay: float = 1.0,
        # Maximum length of retry delay in seconds, preventing the delay from growing infinitely.
        max_delay: float = 60.0,
    ):
        """Construct a new retries policy, supporting exponential and fixed-interval delays via a backoff coefficient."""
        if not isinstance(max_retries, int) or isinstance(max_retries, bool):
            raise InvalidError(f"Invalid retries number: {max_retries!r}. max_retries must be an integer.")
        if max_retries < 0:
            raise InvalidError(
                f"Invalid retries number: {max_retries}. Function retries must be non-negative."
            )
        if max_retries > MAX_RETRIES:
            raise InvalidError(
                f"Invalid retries number: {max_retries}. Retries must be between 0 and {MAX_RETRIES}."
            )
        for name, value in (
            ("backoff_coefficient", backoff_coefficient),
            ("initial_delay", initial_delay),
            ("max_delay", max_delay),
        ):
            if not _is_number(value) or math.isnan(value):
                raise InvalidError(f"Invalid {name} argument: {value!r}. {name} must be a number.")
        if not MIN_MAX_DELAY <= max_delay <= MAX_MAX_DELAY:
            raise InvalidError(
                f"Invalid max_delay argument: {max_delay}. "
                f"Must be between {MIN_MAX_DELAY:g}-{MAX_MAX_DELAY:g} seconds."
            )
        if not 0 <= initial_delay <= MAX_INITIAL_DELAY:
            raise InvalidError(
                f"Invalid initial_delay argument: {initial_delay}. Must be between 0-{MAX_INITIAL_DELAY:g} seconds."
            )
        if not MIN_BACKOFF_COEFFICIENT <= backoff_coefficient <= MAX_BACKOFF_COEFFICIENT:
            raise InvalidError(
                f"Invalid backoff_coefficient: {backoff_coefficient}. Coefficient must be between "
                f"{MIN_BACKOFF_COEFFICIENT} (fixed-interval backoff) and {MAX_BACKOFF_COEFFICIENT}."
            )
        self.max_retries = max_retries
        self.backoff_coefficient = float(backoff_coefficient)
        # timedelta, as in the Modal client, so user code reading these attributes keeps working.
        self.initial_delay = timedelta(seconds=initial_delay)
        self.max_delay = timedelta(seconds=max_delay)

    def delay_for_attempt(self, retry_count: int) -> float:
        """Seconds to wait before retry number `retry_count` (1 = the first retry).

        `initial_delay * backoff_coefficient ** (retry_count - 1)`, capped at `max_delay`.
        """
        if retry_count < 1:
            raise ValueError(f"retry_count starts at 1 (the first retry), got {retry_count}")
        initial = self.initial_delay.total_seconds()
        cap = self.max_delay.total_seconds()
        try:
            delay = initial * self.backoff_coefficient ** (retry_count - 1)
        except OverflowError:
            return cap
        return min(delay, cap)

    def _to_dict(self) -> dict[str, Any]:
        """The policy as plain values (delays in seconds), the shape of the API's RetryPolicy."""
        return {
            "max_retries": self.max_retries,
            "backoff_coefficient": self.backoff_coefficient,
            "initial_delay": self.initial_delay.total_seconds(),
            "max_delay": self.max_delay.total_seconds(),
        }

    @classmethod
    def _from_dict(cls, data: dict[str, Any]) -> Retries:
        """Inverse of `_to_dict` (re-validates)."""
        return cls(
            max_retries=int(data["max_retries"]),
            backoff_coefficient=float(data["backoff_coefficient"]),
            initial_delay=float(data["initial_delay"]),
            max_delay=float(data["max_delay"]),
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Retries) and self._to_dict() == other._to_dict()

    def __hash__(self) -> int:
        return hash(tuple(self._to_dict().values()))

    def __repr__(self) -> str:
        d = self._to_dict()
        return (
            f"Retries(max_retries={d['max_retries']}, backoff_coefficient={d['backoff_coefficient']}, "
            f"initial_delay={d['initial_delay']}, max_delay={d['max_delay']})"
        )


def parse_retries(retries: int | Retries | None, source: str = "") -> Retries | None:
    """Turn the `retries=` option into a policy, as Modal does.

    An int `n` means `Retries(max_retries=n, initial_delay=1.0, backoff_coefficient=1.0)`:
    n retries, one second apart. None means no retries.
    """
    if retries is None:
        return None
    if isinstance(retries, Retries):
        return retries
    if isinstance(retries, int) and not isinstance(retries, bool):
        return Retries(max_retries=retries, initial_delay=1.0, backoff_coefficient=1.0)
    extra = f" on {source}" if source else ""
    raise InvalidError(
        f"Retries parameter must be an integer or instance of modal.Retries. Found: {type(retries)}{extra}."
    )
