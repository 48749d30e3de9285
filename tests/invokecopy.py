"""A faster deep copy of Invoke's objects, for the tests' many in-process command lines.

Invoke deep-copies the namespace each time it loads ``tasks.py`` and the core flags on each
parse; the suite runs ~900 command lines in its processes, and ``copy.deepcopy``'s generic path
(``__reduce_ex__``, a ``deepcopy`` call per string) was ~3 ms of each. :func:`install` gives
Invoke's ``Collection``, ``Task``, ``Lexicon``, ``Argument`` and ``ParserContext`` a
``__deepcopy__`` that makes the same copy (:func:`_plain_deepcopy`), and ``Collection.__bool__``
(is there any task? Invoke's lists every task name to tell) a direct answer (:func:`_has_tasks`).

Only the tests install it (tests/conftest.py): the real ``invoke`` and ``mlops-setup`` load
once a process, where it would save ~1 ms. ``tests/test_cli.py`` holds both equal to Invoke's
own (same copy, same sharing; same truth value), so the tests run the code a user runs.
"""

from __future__ import annotations

import copy
from typing import Any

from invoke import Collection, Task
from invoke.parser import Argument, ParserContext
from invoke.vendor.lexicon import Lexicon

INVOKE: dict[str, Any] = {}
"""Invoke's own ``Collection.__bool__``, kept by :func:`install`."""


def _atomic_types() -> frozenset[type]:
    """The types ``copy.deepcopy`` gives back as they are (str, int, None, a function, a class,
    ...), as this Python's ``copy`` module lists them; empty if it lists them in no way known
    here, and then :func:`install` leaves Invoke's objects to the generic copy."""
    if not hasattr(copy, "_reconstruct"):  # a subclass's copy (_plain_deepcopy)
        return frozenset()
    listed = getattr(copy, "_atomic_types", None)  # Python 3.14
    if listed is not None:
        return frozenset(listed)
    dispatch, atomic = (
        getattr(copy, name, None) for name in ("_deepcopy_dispatch", "_deepcopy_atomic")
    )
    if dispatch is None or atomic is None:
        return frozenset()
    return frozenset(t for t, f in dispatch.items() if f is atomic)


_ATOMIC = _atomic_types()


def _plain_deepcopy(self: Any, memo: dict[int, Any]) -> Any:
    """``copy.deepcopy(self)`` for an object whose state is its ``__dict__`` (and, for a dict,
    its items), as Invoke's are: the same copy (a new object of the same class, each attribute
    deep-copied through ``memo``, so shared parts stay shared, then each item set through the
    class's ``__setitem__``, in the order ``copy._reconstruct`` does it), without the generic
    ``__reduce_ex__`` round trip and a ``deepcopy`` call per string. A subclass gets the generic
    copy (it may keep its state otherwise); ``tests/test_cli.py`` holds the two equal on the
    clone's namespace and the parser's contexts."""
    cls = type(self)
    if cls not in _PLAIN_CLASSES:
        return copy._reconstruct(self, memo, *self.__reduce_ex__(4))  # type: ignore[attr-defined]
    new = cls.__new__(cls)
    memo[id(self)] = new
    state = new.__dict__
    for key, value in self.__dict__.items():
        state[key] = value if type(value) in _ATOMIC else copy.deepcopy(value, memo)
    if isinstance(self, dict):
        for item, value in self.items():
            key = item if type(item) in _ATOMIC else copy.deepcopy(item, memo)
            new[key] = value if type(value) in _ATOMIC else copy.deepcopy(value, memo)
    return new


_PLAIN_CLASSES = (Collection, Task, Lexicon, Argument, ParserContext)


def _has_tasks(self: Collection) -> bool:
    """``bool(collection)``: whether it or a collection inside it has a task, as Invoke's
    ``bool(self.task_names)`` says, without naming every task (``tests/test_cli.py``)."""
    return bool(self.tasks) or any(map(bool, self.collections.values()))


def install() -> None:
    """Install both (a second call does nothing)."""
    for cls in _PLAIN_CLASSES if _ATOMIC else ():
        if "__deepcopy__" not in vars(cls):
            cls.__deepcopy__ = _plain_deepcopy  # type: ignore[attr-defined]
    if "Collection.__bool__" not in INVOKE:
        INVOKE["Collection.__bool__"] = Collection.__bool__
        Collection.__bool__ = _has_tasks  # type: ignore[method-assign]
