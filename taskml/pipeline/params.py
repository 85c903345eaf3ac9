"""Numeric parameters of the pipeline: one definition each (default, range, unit, meaning).

The specs (``WindowSpec``, ``DatasetSpec``, ``ModelParams``) take their defaults from here and
check their values with :meth:`Param.check`; the API serializers, the /backend/ form readers and
the command-line flags read the same objects, so a range is written down once. A range bounds
what could ever make sense (a step of a nanosecond, a billion trees); what this machine can
afford is a separate question, answered by the estimates in ``estimates.py`` against limits the
deployment sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .errors import InputError

SEED_MAX = 2**32 - 1  # numpy and scikit-learn take no other seeds


def show(value) -> str:
    """A number as messages print it: whole numbers in full (1,000,000), others with %g."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    return f"{value:g}"


@dataclass(frozen=True)
class Param:
    name: str  # as the API and /backend/ name it (the CLI flag is --name-with-dashes)
    default: float | int | None
    minimum: float | int
    maximum: float | int
    kind: type = float  # int or float
    help: str = ""
    unit: str = ""
    nullable: bool = False  # None is a value ("no limit", "by train size")

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def describe(self) -> str:
        """``between 0.001 and 3600 s``: the range as a message or a help text says it."""
        unit = f" {self.unit}" if self.unit else ""
        return f"between {show(self.minimum)} and {show(self.maximum)}{unit}"

    def check(self, value):
        """``value`` as this parameter's kind; InputError (naming the parameter) when out of range."""
        if value is None:
            if self.nullable:
                return None
            raise InputError(f"{self.name} must be given", param=self.name)
        if isinstance(value, bool):
            raise InputError(f"{self.name} must be a number, got {value!r}", param=self.name)
        if self.kind is int:
            if isinstance(value, float):
                if not value.is_integer():
                    raise InputError(f"{self.name} must be a whole number, got {value!r}", param=self.name)
                value = int(value)
            elif not isinstance(value, int):
                raise InputError(f"{self.name} must be a whole number, got {value!r}", param=self.name)
        else:
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise InputError(f"{self.name} must be a number, got {value!r}", param=self.name) from None
            if not math.isfinite(value):
                raise InputError(f"{self.name} must be a finite number, got {value!r}", param=self.name)
        if not self.minimum <= value <= self.maximum:
            raise InputError(f"{self.name} must be {self.describe()}, got {show(value)}", param=self.name)
        return value


def params_table(*params: Param) -> dict[str, Param]:
    return {p.name: p for p in params}


SEED = Param("seed", 42, 0, SEED_MAX, int, "seed for everything random (splits, balancing, models)")
SAMPLE_RATE = Param("sample_rate", 1, 1, 100_000, int, "process every Nth frame (timestamps stay real)")
