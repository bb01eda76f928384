"""The project's own settings from the environment (the apps' are declared in their conf.py),
read as the apps' are: unset or blank is the default."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from embeddings.conf import Setting, boolean, names

T = TypeVar("T")


def _env(name: str, default: T, parse: Callable[[str], T]) -> T:
    return Setting(name=name, default=default, parse=parse, meaning="").from_environment()


def env_bool(name: str, *, default: bool) -> bool:
    return _env(name, default, boolean)


def env_float(name: str, *, default: float) -> float:
    return _env(name, default, float)


def env_list(name: str, *, default: list[str]) -> list[str]:
    return _env(name, default, lambda raw: list(names(raw)))
