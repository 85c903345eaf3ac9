"""Reading the /backend/ form fields: each problem names its field."""

from __future__ import annotations

import math

from taskml.domain import ValidationFailed, field_error
from taskml.pipeline.errors import InputError
from taskml.pipeline.params import Param


def fields(request):
    """The request's fields: a form, or a JSON object (a JSON list or string names no field)."""
    data = request.data
    if not hasattr(data, "get"):
        raise ValidationFailed("body", f"send the fields as a form or a JSON object, not a JSON {type(data).__name__}")
    return data


def text(data, name: str, default: str | None = None) -> str | None:
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a JSON body carries numbers as numbers
    if not isinstance(value, str):
        raise ValidationFailed(name, "must be text")
    return value.strip()


def number(data, name: str, default: float | None) -> float | None:
    value = text(data, name)
    if value is None:
        return default
    try:
        result = float(value)
    except ValueError:
        raise ValidationFailed(name, f"{value!r} is not a number") from None
    if not math.isfinite(result):
        raise ValidationFailed(name, f"{value!r} is not a finite number")
    return result


def integer(data, name: str, default: int | None, *, minimum: int | None = None) -> int | None:
    value = text(data, name)
    if value is None or value.lower() in ("none", "null"):
        return default
    try:
        result = int(value)
    except ValueError:
        raise ValidationFailed(name, f"{value!r} is not an integer") from None
    if minimum is not None and result < minimum:
        raise ValidationFailed(name, f"must be at least {minimum}, got {result}")
    return result


def param(data, param: Param, default=None):
    """A numeric parameter of the pipeline (taskml.pipeline.params): its kind and range checked,
    blank or missing → ``default`` (None: left to the pipeline's default)."""
    value = integer(data, param.name, None) if param.kind is int else number(data, param.name, None)
    if value is None:
        return default
    try:
        return param.check(value)
    except InputError as exc:
        raise field_error(exc) from None
