"""What the apps above streaming tell it: what a live session can follow.

A live session may follow a retraining policy's champion and switch model whenever another is
promoted. Policies belong to the retraining app, above this one: it registers here, in its
``AppConfig.ready()``, how to find a caller's policy and its champion, so streaming needs no
import of it. (The ``LiveSession.policy`` foreign key names the model by string; that column is
the one place the data refers upwards.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from taskml.registry import Registry


@dataclass(frozen=True)
class ChampionSource:
    """Something whose current model a live session follows."""

    get: Callable[..., Any]  # get(user=, pk=) -> the caller's object (``owner_id``, ``name``, ``champion``) or NotFound
    champion_id: Callable[[int], int | None]  # the object's champion now, by the object's id


champion_sources: Registry[ChampionSource] = Registry("champion sources")
POLICY = "policy"  # the source LiveSession.policy points at
