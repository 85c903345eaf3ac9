"""``{% param_attrs "window_sec" %}``: a number input's range, step, hint and default from the
parameter's one definition (``taskml.pipeline.params.Param``), so the pages never restate a range
that the API, ``/backend/`` and the command line already take from the same place.

The forms are ``novalidate``: the attributes drive the spinner and the hint, the server's answer
stays the one that names a bad value.
"""

from __future__ import annotations

from django import template
from django.utils.html import format_html, format_html_join

from retraining.services import POLICY_PARAMS
from taskml.pipeline.dataset import DATASET_PARAMS
from taskml.pipeline.estimators import MODEL_PARAMS
from taskml.pipeline.interchange import LABEL_FPS
from taskml.pipeline.online import SMOOTHING_PARAMS
from taskml.pipeline.params import SAMPLE_RATE, Param
from taskml.pipeline.training import CV_FOLDS

register = template.Library()

PARAMS: dict[str, Param] = {
    **DATASET_PARAMS,
    **MODEL_PARAMS,
    **SMOOTHING_PARAMS,
    **POLICY_PARAMS,
    SAMPLE_RATE.name: SAMPLE_RATE,
    CV_FOLDS.name: CV_FOLDS,
    LABEL_FPS.name: LABEL_FPS,
}


def _number(value) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


@register.simple_tag
def param_attrs(name: str, default: str = "value") -> str:
    """``min``, ``max``, ``step`` and ``title`` of parameter ``name``, and its default as the
    input's ``value`` (``default="value"``), its ``placeholder`` (``"placeholder"``: a blank field
    means the default) or not at all (``""``)."""
    param = PARAMS[name]
    attrs = [
        ("min", _number(param.minimum)),
        ("max", _number(param.maximum)),
        ("step", "1" if param.kind is int else "any"),
        ("title", f"{param.help}, {param.describe()}" if param.help else param.describe()),
    ]
    if default and param.default is not None:
        attrs.append((default, _number(param.default)))
    return format_html_join(" ", '{}="{}"', attrs) or format_html("")
