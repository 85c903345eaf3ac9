"""The list filter backend for /api/v1/: django-filter, with date-times made safe for the database.

An ISO date-time filter value may carry any UTC offset Python accepts (up to ±23:59), but
PostgreSQL refuses offsets past ±15:59 with an error, not an empty result. Filter values are
therefore turned into UTC before they reach a query; one that cannot be (a year-1 or
year-9999 edge) is a 400 naming the filter.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django_filters import utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError


class FilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise utils.translate_validation(filterset.errors)
        cleaned = filterset.form.cleaned_data
        for name, value in list(cleaned.items()):
            if isinstance(value, datetime) and value.tzinfo is not None:
                try:
                    cleaned[name] = value.astimezone(UTC)
                except OverflowError:
                    raise ValidationError({name: [f"{value.isoformat()} is out of range"]}) from None
        return filterset.qs
