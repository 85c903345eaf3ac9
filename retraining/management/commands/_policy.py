"""What the retraining commands share: finding a policy by id or name, and one-line errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.core.management.base import CommandError

from retraining.models import RetrainPolicy
from taskml.domain import ServiceError


def add_policy_arguments(parser) -> None:
    parser.add_argument("--policy", required=True, help="the policy's id or name")
    parser.add_argument("--user", default="", help="whose policy a name refers to (when several users share it)")


def find_policy(value: str, username: str = "") -> RetrainPolicy:
    policies = RetrainPolicy.objects.select_related("owner", "champion")
    if username:
        policies = policies.filter(owner__username=username)
    found = list(policies.filter(pk=int(value))) if value.isdigit() else []
    found = found or list(policies.filter(name=value))
    if not found:
        raise CommandError(f"policy: no retraining policy {value!r}" + (f" of {username}" if username else ""))
    if len(found) > 1:
        raise CommandError(f"policy: {len(found)} users have a policy named {value!r}; give its id or --user")
    return found[0]


@contextlib.contextmanager
def service_errors() -> Iterator[None]:
    """A refused request is one line on stderr and exit status 1."""
    try:
        yield
    except ServiceError as exc:
        raise CommandError(str(exc)) from None
