"""API fields for the pipeline's numeric parameters (taskml.pipeline.params): one definition each.

``param_field(param)`` is the DRF field of a parameter: its kind, range (so the OpenAPI schema
documents it and a value outside is a 400 naming the field), default and help text, all read from
the one ``Param``. NaN and infinities are refused too (DRF's range validators let NaN through).
"""

from __future__ import annotations

import math

from rest_framework import serializers

from taskml.pipeline.params import Param

_UNSET = object()


def _finite(value) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise serializers.ValidationError("must be a finite number")


def param_field(param: Param, *, default=_UNSET, **kwargs) -> serializers.Field:
    """The serializer field of ``param``. ``default``: the parameter's unless given; None makes the
    field optional (left out of the validated data when not sent, so the pipeline's default applies)."""
    if default is _UNSET:
        default = param.default
    if default is None:
        kwargs.setdefault("required", False)
    else:
        kwargs.setdefault("default", default)
    if param.nullable:
        kwargs.setdefault("allow_null", True)
    shown = f"; default {param.default}" if param.default is not None else ""
    kwargs.setdefault("help_text", f"{param.help} ({param.describe()}{shown})")
    field_class = serializers.IntegerField if param.kind is int else serializers.FloatField
    return field_class(min_value=param.minimum, max_value=param.maximum, validators=[_finite], **kwargs)
