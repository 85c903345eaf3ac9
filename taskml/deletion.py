"""The deletion orchestrator: the one place where deleting an object takes what depends on it along.

Every app's ``<x>_delete`` service is a leaf: it deletes its own row and its own files, and
refuses (Conflict) while anything still depends on the row. What depends on what is registered
by the app that owns the dependent rows, in its ``AppConfig.ready()``, so an app never imports
the apps above it to find out::

    deletion.deletable(Dataset, field="dataset", delete=..., files=...)         # datasets: how its rows go
    deletion.depends(FeatureFile, "datasets built from it", Dependence.CASCADE,  # datasets: what rests on
                     find=..., refusal=...)                                      # a feature file of videos'

:func:`delete` walks that graph. What *blocks* (a video held out by a retraining policy, a model
a live session is running) refuses the delete; what *cascades* (a video's feature files, their
datasets, the datasets' models) is deleted first when the caller asks to cascade and refuses
otherwise; what *goes with it* (a model's ended live sessions) is always deleted first. Each
object goes through its own app's leaf service, dependents before what they depend on, in one
transaction: files are removed once every row is gone, or nothing changes.

It is used by every interface that deletes: the API's ``DELETE`` (with ``?cascade=true``), the
admin (its confirmation page lists the same plan, files included) and ``users.services.user_delete``.
It lives in the project's shared kernel rather than in an app on top, because those entry points
sit in the lower apps' own interfaces (``DELETE /api/v1/videos/<id>/?cascade=true``); it knows the
apps only through what they registered, and the import contracts check that it imports none.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Model

from taskml.domain import Conflict
from taskml.registry import Registry


class Dependence(enum.Enum):
    BLOCKS = "blocks"  # the object may not go while these exist
    CASCADE = "cascade"  # deleted first when the caller cascades; otherwise they block
    GOES_WITH_IT = "goes with it"  # always deleted first, cascade or not


def _no_files(obj: Model) -> list[str]:
    return []


@dataclass(frozen=True)
class Deletable:
    """How the rows of one model are deleted."""

    model: type[Model]
    field: str  # the name errors give such an object ("video", "feature_file", "model"...)
    delete: Callable[[Model], None]  # the app's leaf service: own row and files
    files: Callable[[Model], list[str]] = _no_files  # what the leaf removes, relative to the data directory
    owner_field: str | None = "owner"  # whose it is, for deleting a user's objects


@dataclass(frozen=True)
class Dependents:
    """Rows that depend on a row of ``of``, and how they take part in its deletion."""

    of: type[Model]
    dependence: Dependence
    find: Callable[[Model], Iterable[Model]]
    refusal: Callable[[Model, list[Model]], str]  # why the object cannot go while these exist


_deletables: Registry[Deletable] = Registry("deletable models")
_dependents: Registry[Dependents] = Registry("dependents")


def _key(obj: Model) -> tuple[str, object]:
    return obj._meta.label, obj.pk


def deletable(
    model: type[Model],
    *,
    field: str,
    delete: Callable[[Model], None],
    files: Callable[[Model], list[str]] | None = None,
    owner_field: str | None = "owner",
) -> None:
    """Register how ``model``'s rows are deleted (by the app that owns ``model``)."""
    _deletables.register(
        model._meta.label,
        Deletable(model=model, field=field, delete=delete, files=files or _no_files, owner_field=owner_field),
    )


def depends(
    of: type[Model],
    name: str,
    dependence: Dependence,
    *,
    find: Callable[[Model], Iterable[Model]],
    refusal: Callable[[Model, list[Model]], str],
) -> None:
    """Register rows that depend on rows of ``of`` (by the app that owns the dependent rows)."""
    _dependents.register(
        f"{of._meta.label}: {name}", Dependents(of=of, dependence=dependence, find=find, refusal=refusal)
    )


def _deletable(obj: Model) -> Deletable:
    return _deletables.get(obj._meta.label)


def dependents(obj: Model, *dependences: Dependence) -> list[tuple[Dependents, list[Model]]]:
    """The registered dependents of ``obj`` that exist now (of the given kinds; all by default)."""
    found = []
    for rule in _dependents.values():
        if rule.of is type(obj) and (not dependences or rule.dependence in dependences):
            rows = list(rule.find(obj))
            if rows:
                found.append((rule, rows))
    return found


def deleted_with(obj: Model) -> list[Model]:
    """What a cascading delete of ``obj`` deletes first (directly; each of those may take more)."""
    return [row for _, rows in dependents(obj, Dependence.CASCADE, Dependence.GOES_WITH_IT) for row in rows]


def files_of(obj: Model) -> list[str]:
    """The stored paths (relative to the data directory) that deleting ``obj`` removes."""
    return _deletable(obj).files(obj) if obj._meta.label in _deletables else []


def refuse_if_depended_on(obj: Model) -> None:
    """For the leaf services: Conflict while anything registered still depends on ``obj``."""
    found = dependents(obj)
    if found:
        rule, rows = min(found, key=lambda item: _ORDER[item[0].dependence])
        raise Conflict(_deletable(obj).field, rule.refusal(obj, rows))


_ORDER = {Dependence.BLOCKS: 0, Dependence.CASCADE: 1, Dependence.GOES_WITH_IT: 2}


def _plan(obj: Model, *, cascade: bool, planned: dict, order: list[Model], visiting: set) -> None:
    key = _key(obj)
    if key in planned or key in visiting:
        return
    visiting.add(key)
    field = _deletable(obj).field
    found = dependents(obj)
    for rule, rows in found:
        if rule.dependence is Dependence.BLOCKS:
            left = [row for row in rows if _key(row) not in planned]  # unless this delete removes them first
            if left:
                raise Conflict(field, rule.refusal(obj, left))
    if not cascade:
        for rule, rows in found:
            if rule.dependence is Dependence.CASCADE:
                raise Conflict(field, rule.refusal(obj, rows))
    for rule, rows in found:
        if rule.dependence is not Dependence.BLOCKS:
            for row in rows:
                _plan(row, cascade=cascade or rule.dependence is Dependence.CASCADE, planned=planned, order=order,
                      visiting=visiting)  # fmt: skip
    visiting.discard(key)
    planned[key] = obj
    order.append(obj)


def plan(objects: Iterable[Model], *, cascade: bool) -> list[Model]:
    """Everything deleting ``objects`` deletes, dependents before what they depend on; Conflict
    (naming the first object that cannot go) when something blocks."""
    planned: dict = {}
    order: list[Model] = []
    for obj in objects:
        _plan(obj, cascade=cascade, planned=planned, order=order, visiting=set())
    return order


@transaction.atomic
def delete(obj: Model, *, cascade: bool = False) -> None:
    """Delete ``obj`` through its app's service; with ``cascade``, what depends on it first."""
    delete_all([obj], cascade=cascade)


@transaction.atomic
def delete_all(objects: Iterable[Model], *, cascade: bool) -> None:
    for item in plan(objects, cascade=cascade):
        _deletable(item).delete(item)


def owned_by(user) -> list[Model]:
    """Every object of ``user``'s that is deleted through a service: the higher apps' first."""
    owned: list[Model] = []
    for entry in reversed(_deletables.values()):
        if entry.owner_field:
            owned += entry.model._default_manager.filter(**{entry.owner_field: user}).order_by("pk")
    return owned
