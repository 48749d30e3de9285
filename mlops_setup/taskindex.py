"""The task index: every task as Invoke sees it, so ``--list`` need not import the sections.

``invoke --list``, ``--help TASK`` and the parsing of a task's flags need only what a task
declares: its name, docstring, parameters and their defaults, the help of each flag. Importing
the modules that declare them means compiling some 10,000 lines when Python keeps no bytecode
(``PYTHONDONTWRITEBYTECODE=1``, a fresh clone), which made ``invoke --list`` nearly twice as slow
as bare Invoke. So those declarations are also written down in ``mlops_setup/data/tasks.json``
(:data:`INDEX`, shipped in the wheel), and :func:`collection` builds each section's namespace
from it: :class:`IndexedTask` objects whose body imports the real task's module only when the
task runs, and then calls the real task.

The index cannot drift unnoticed:

* ``invoke docs.refresh`` writes it from the real modules (:func:`write`); ``docs.refresh
  --check`` and ``docs.build`` refuse a stale one; ``tests/test_taskindex.py`` checks that it
  equals what the modules declare and that ``--list`` and every ``--help TASK`` print the same
  from the index as from the modules.
* Before it runs, an :class:`IndexedTask` compares the real task's declaration with its own and
  stops (exit 2, nothing called) if they differ: the flags were parsed from the index.
* A module already imported in this process is used as it is (:func:`collection`): the index
  only stands in for an import not yet paid for.

What the index cannot express (pre/post tasks, a collection's own configuration, nested
collections, parameters that are not plain ``name=default`` with a JSON default) is refused by
:func:`declare` when it is written, so a task that needs them fails ``docs.refresh`` loudly.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import sys
from typing import Any

from invoke import Collection, Task

INDEX = "data/tasks.json"

# Collection name -> the module whose ``ns`` it is, in the order ``cli.namespace`` adds them.
COLLECTIONS = {
    "repo": "mlops_setup.sections.repo",
    "ci": "mlops_setup.sections.ci",
    "code": "mlops_setup.sections.code",
    "release": "mlops_setup.sections.release",
    "deploy": "mlops_setup.sections.deploy",
    "handoff": "mlops_setup.sections.handoff",
    "setup": "mlops_setup.guide",
    "docs": "mlops_setup.docs",
}
# Tasks at the root: name -> (module, attribute).
TASKS = {"demo": ("mlops_setup.demo", "demo")}

_PLAIN = inspect.Parameter.POSITIONAL_OR_KEYWORD
_JSON_TYPES = (bool, int, float, str, type(None))


class NotIndexable(ValueError):
    """A task the index cannot describe exactly."""


def declare(task: Task, attr: str | None = None) -> dict[str, Any]:
    """What Invoke reads of ``task``, as JSON data; ``attr``: its name in its module."""
    where = f"{task.__module__}.{attr or task.__name__}"
    if task.pre or task.post:
        raise NotIndexable(f"{where}: pre/post tasks are not in the task index")
    params = []
    for param in task.argspec(task.body).parameters.values():
        if param.kind is not _PLAIN:
            raise NotIndexable(f"{where}: parameter {param.name} is not a plain name=default")
        entry: dict[str, Any] = {"name": param.name}
        if param.default is not inspect.Parameter.empty:
            if not isinstance(param.default, _JSON_TYPES):
                raise NotIndexable(f"{where}: the default of {param.name} is not JSON data")
            entry["default"] = param.default
        params.append(entry)
    return {
        "module": task.__module__,
        "attr": attr or task.__name__,
        "name": task.name,
        "doc": task.__doc__ or "",
        "params": params,
        "help": dict(task.help),
        "aliases": list(task.aliases),
        "default": bool(task.is_default),
        "positional": list(task.positional),
        "optional": list(task.optional),
        "iterable": list(task.iterable),
        "incrementable": list(task.incrementable),
        "auto_shortflags": task.auto_shortflags,
        "autoprint": task.autoprint,
    }


def _attr_of(task: Task) -> str:
    """The name under which ``task`` sits in its module."""
    module = importlib.import_module(task.__module__)
    if getattr(module, task.__name__, None) is task:
        return task.__name__
    for name, value in vars(module).items():
        if value is task:
            return name
    raise NotIndexable(f"{task.__module__}: task {task.name!r} is not a module attribute")


def declare_collection(coll: Collection) -> dict[str, Any]:
    if coll.collections:
        raise NotIndexable(f"collection {coll.name!r}: nested collections are not in the index")
    if coll._configuration:
        raise NotIndexable(f"collection {coll.name!r}: its configuration is not in the index")
    tasks = []
    for key, task in coll.tasks.items():
        tasks.append({"key": key, **declare(task, _attr_of(task))})
    return {"name": coll.name, "tasks": tasks}


def real_collection(name: str) -> Collection:
    """The collection ``name`` as its module declares it (importing the module)."""
    return importlib.import_module(COLLECTIONS[name]).ns


def real_task(name: str) -> Task:
    module, attr = TASKS[name]
    return getattr(importlib.import_module(module), attr)


def generate() -> dict[str, Any]:
    """The index, read from the real modules (imports them all)."""
    return {
        "about": "Generated by `invoke docs.refresh` from the task modules (see taskindex.py).",
        "collections": {name: declare_collection(real_collection(name)) for name in COLLECTIONS},
        "tasks": {name: declare(real_task(name), TASKS[name][1]) for name in TASKS},
    }


def render(index: dict[str, Any]) -> str:
    return json.dumps(index, indent=1, ensure_ascii=False) + "\n"


def _path() -> Any:
    from pathlib import Path

    return Path(__file__).resolve().parent / INDEX


def write() -> bool:
    """Write the index from the modules; whether the file changed. Works on this clone's
    ``mlops_setup/data/tasks.json`` (a contributor's task: ``invoke docs.refresh``)."""
    text = render(generate())
    path = _path()
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def stale() -> bool:
    """Whether the committed index differs from what the modules declare."""
    path = _path()
    return not path.exists() or path.read_text(encoding="utf-8") != render(generate())


_loaded: dict[str, Any] = {}


def load() -> dict[str, Any]:
    """The shipped index (read once per process)."""
    if not _loaded:
        from importlib.resources import files  # a Traversable: read inside a zip too

        text = files(__package__).joinpath(*INDEX.split("/")).read_text(encoding="utf-8")
        _loaded.update(json.loads(text))
    return _loaded


class IndexedTask(Task):
    """A task built from its index entry; running it runs the real task."""

    def __init__(self, entry: dict[str, Any]) -> None:
        self.entry = entry
        empty = inspect.Parameter.empty
        params = [inspect.Parameter("c", _PLAIN)] + [
            inspect.Parameter(p["name"], _PLAIN, default=p.get("default", empty))
            for p in entry["params"]
        ]

        def body(c: Any, *args: Any, **kwargs: Any) -> Any:
            return self.real().body(c, *args, **kwargs)

        body.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        body.__doc__ = entry["doc"]
        body.__name__ = body.__qualname__ = entry["attr"]
        body.__module__ = entry["module"]
        super().__init__(
            body,
            name=entry["name"],
            aliases=list(entry["aliases"]),  # the task's own lists: the entry stays as read
            positional=list(entry["positional"]),
            optional=entry["optional"],
            default=entry["default"],
            auto_shortflags=entry["auto_shortflags"],
            help=entry["help"],
            autoprint=entry["autoprint"],
            iterable=list(entry["iterable"]),
            incrementable=list(entry["incrementable"]),
        )

    # Left out of a deep copy: read, never written, here or by Invoke (the index entry, the
    # immutable Signature). The rest is copied, as Invoke's copies need: parsing pops the help.
    _SHARED = frozenset({"entry", "__signature__"})

    def __deepcopy__(self, memo: dict[int, Any]) -> IndexedTask:
        """A deep copy, less the read-only index entry: Invoke copies every task of a namespace
        on each load (``Collection.from_module``), and the entry was most of that cost."""
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in vars(self).items():
            new.__dict__[key] = value if key in self._SHARED else copy.deepcopy(value, memo)
        return new

    @property
    def target(self) -> tuple[str, str]:
        return self.entry["module"], self.entry["attr"]

    def real(self) -> Task:
        """The task this entry stands for; refuses to run it if the index is out of date."""
        from invoke import Exit

        module, attr = self.target
        task = getattr(importlib.import_module(module), attr)
        declared = {k: v for k, v in self.entry.items() if k != "key"}
        if declare(task, attr) != declared:
            raise Exit(
                f"{self.name}: the task index (mlops_setup/{INDEX}) is out of date for this "
                "task, so its flags were read wrong; run `invoke docs.refresh`",
                code=2,
            )
        return task

    def __eq__(self, other: object) -> bool:
        if isinstance(other, IndexedTask):
            return self.target == other.target
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.target)


def collection(name: str) -> Collection:
    """The collection ``name``: its module's own ``ns`` if the module is already imported,
    else built from the index (importing nothing)."""
    module = COLLECTIONS[name]
    if module in sys.modules:
        return sys.modules[module].ns
    return indexed_collection(name)


def indexed_collection(name: str) -> Collection:
    data = load()["collections"][name]
    coll = Collection(data["name"])
    for entry in data["tasks"]:
        coll.add_task(IndexedTask(entry), name=entry["key"])
    return coll


def task(name: str) -> Task:
    """The root task ``name`` (``demo``), as :func:`collection` does it for collections."""
    module, attr = TASKS[name]
    if module in sys.modules:
        return getattr(sys.modules[module], attr)
    return IndexedTask(load()["tasks"][name])
