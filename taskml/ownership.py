"""Who may see what: objects belong to their owner; staff see everyone's."""

from __future__ import annotations

from django.db.models import QuerySet


def visible_to(queryset: QuerySet, user) -> QuerySet:
    if user is None or not user.is_authenticated:
        return queryset.none()
    if user.is_staff:
        return queryset
    return queryset.filter(owner=user)
