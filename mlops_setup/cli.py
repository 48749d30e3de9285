"""The command line: the ``mlops-setup`` command, its tasks, exit codes, suggestions, Ctrl-C.

``mlops-setup`` is Invoke's own :class:`~invoke.Program` with our namespace, name and version
(``pipx install`` installs it; ``[project.scripts]`` in pyproject.toml): ``mlops-setup --list``,
``mlops-setup setup.all``, ``mlops-setup ci.secrets --dry-run``, ``mlops-setup --version``, and
every core flag of ``invoke`` (``-f FILE``, ``--help TASK``, ``--complete``). :func:`namespace`
composes the tasks; ``tasks.py`` builds the same namespace and adds the contributors' ``docs``
tasks, which work on this repository's runbook and mean nothing in an installed copy. Importing
this must stay cheap (``--list``): the section modules import databricks-sdk, PyGithub and
pydantic only inside the code that needs them.

Both commands are Invoke's ``Program``; :func:`namespace` calls :func:`install` once, which
wraps four of its methods (idempotently, for every ``Program``; :data:`INVOKE` keeps Invoke's):

* ``parse_tasks``/``parse_cleanup``: an unknown task or flag (``invoke ci.secret``,
  ``--dryrun``) exits 2 (``EXIT_USAGE``, Invoke says 1) with "did you mean ...?" naming the
  nearest task or flag of that task.
* ``parse_tasks``: ``-v``/``--verbose`` anywhere on the line switches on the SDKs' debug logs on
  stderr, every credential masked (:mod:`mlops_setup.logs`), and is taken off the line before
  Invoke parses it (no task has a ``-v`` flag of its own; a test checks).
* ``execute``: Ctrl-C exits 130 (``EXIT_INTERRUPTED``, Invoke says 1) after one line: what this
  run applied, and that a re-run resumes (``console.RUN``); and while the tasks run, the
  commands our messages suggest name the program that runs them (``console.PROGRAM``:
  ``mlops-setup ci.secrets``, not ``invoke ci.secrets``, which finds no tasks outside a clone).
* ``_make_parser``: the task parser is given only the tasks a line names (:func:`parser_for`),
  not every task, each deep-copied on every parse; it reads every line as Invoke's does.

The exit codes are those of README.md's table (``tests/test_exit_codes.py`` holds the two
together).
"""

from __future__ import annotations

import copy
import difflib
import re
import sys
from typing import Any

from invoke import Collection, Program

from . import __version__, taskindex
from .yamlfile import install_invoke_hook

NAME = "mlops-setup"
SECTIONS = ("repo", "ci", "code", "release", "deploy", "handoff")  # the guide's order
VERBOSE_FLAGS = ("-v", "--verbose")
_UNKNOWN = re.compile(r"^No idea what '(?P<token>.*)' is!$")
INVOKE: dict[str, Any] = {}  # Invoke's own Program methods that install() wraps, by name


def suggestion(token: str, program: Any, context: Any = None) -> str:
    """``did you mean ...?`` for an unknown ``token`` (a task name or a flag), or ``""``."""
    collection = getattr(program, "collection", None)
    tasks = list(collection.task_names) if collection is not None else []  # the guide's order
    if token.startswith("-"):
        flags = set(getattr(context, "flags", {}) or {})
        if not getattr(context, "name", None):  # before any task: the named tasks' and core's
            contexts = getattr(getattr(program, "parser", None), "contexts", {}) or {}
            argv = getattr(getattr(program, "core", None), "unparsed", []) or []
            for name in argv:
                if name in contexts:
                    flags |= set(contexts[name].flags)
            flags |= set(program.core[0].flags) if getattr(program, "core", None) else set()
        flags |= set(VERBOSE_FLAGS)
        close = difflib.get_close_matches(token, sorted(flags), n=1, cutoff=0.6)
    else:
        close = difflib.get_close_matches(token, tasks, n=1, cutoff=0.6)
        inside = [t for t in tasks if t.startswith(token + ".")]
        if inside:
            return f"it is a namespace; its tasks: {', '.join(inside)}"
    return f"did you mean '{close[0]}'?" if close else ""


def _usage_error(program: Any, exc: Exception) -> Exception:
    from invoke import Exit

    from .console import EXIT_USAGE

    message = str(exc)
    found = _UNKNOWN.match(message)
    if found:
        token = found["token"]
        hint = suggestion(token, program, getattr(exc, "context", None))
        kind = "flag" if token.startswith("-") else "task"
        command = NAME if getattr(program, "name", "") == NAME else "invoke"
        message = f"unknown {kind} '{token}'; " + (
            hint or f"`{command} --list` shows every task, `{command} --help TASK` its flags"
        )
    return Exit(message, code=EXIT_USAGE)


def install() -> None:
    """Wrap ``invoke.Program`` as the module docstring says; a second call does nothing."""
    from invoke import Exit, ParseError, Program

    if getattr(Program, "_mlops_setup_cli", False):
        return
    parse_tasks, parse_cleanup, execute, make_parser = (
        Program.parse_tasks,
        Program.parse_cleanup,
        Program.execute,
        Program._make_parser,
    )
    INVOKE.update(
        parse_tasks=parse_tasks,
        parse_cleanup=parse_cleanup,
        execute=execute,
        _make_parser=make_parser,
    )

    def _make_parser(self: Any) -> Any:
        if self.args.complete.value:  # completion re-tokenizes (shlex) a line: every task
            return make_parser(self)
        return parser_for(self, self.argv)

    def _parse_tasks(self: Any) -> None:
        argv = list(self.core.unparsed)
        verbose = [a for a in argv if a in VERBOSE_FLAGS]
        if verbose:
            self.core.unparsed = [a for a in argv if a not in VERBOSE_FLAGS]
            from .logs import enable_verbose

            enable_verbose()
        try:
            parse_tasks(self)
        except ParseError as exc:
            raise _usage_error(self, exc) from None

    def _parse_cleanup(self: Any) -> None:
        try:
            parse_cleanup(self)
        except ParseError as exc:
            raise _usage_error(self, exc) from None

    def _execute(self: Any) -> None:
        from . import console

        console.RUN.reset()
        program_was = console.PROGRAM  # the hints name the command that was typed
        console.PROGRAM = NAME if self.name == NAME else "invoke"
        try:
            execute(self)
        except KeyboardInterrupt:
            raise interrupted() from None
        finally:
            console.PROGRAM = program_was

    Program.parse_tasks = _parse_tasks  # type: ignore[method-assign]
    Program.parse_cleanup = _parse_cleanup  # type: ignore[method-assign]
    Program.execute = _execute  # type: ignore[method-assign]
    Program._make_parser = _make_parser  # type: ignore[method-assign]
    Program._mlops_setup_cli = True  # type: ignore[attr-defined]
    _ = Exit  # imported above so a failing import shows here, not at the first Ctrl-C


def parser_for(program: Any, argv: list[str]) -> Any:
    """Invoke's task parser for ``argv``, given only the tasks named somewhere in it.

    Invoke's own ``Program._make_parser`` gives its ``Parser`` a context for every task
    (``Collection.to_contexts``: each task's flags built from its signature), and every parse
    deep-copies them all: most of the cost of a call, for the one or two tasks a line names. The
    parser can only switch to a task (or take it as ``--help``'s value, or find a flag value
    ambiguous with it) when the name or an alias is a token, or the part of one after ``=`` or
    after a short flag (``--help=ci.secrets``, ``-hci.secrets``): always a substring of an
    ``argv`` element. So the tasks whose name or alias is a substring of one are a superset of
    those the parse can reach, and it reads the same as with every task: the same tasks and
    flags, the same errors (``tests/test_cli.py`` holds it to Invoke's parser on a table of
    lines, which also builds Invoke's parser of every task: a namespace it would refuse, two
    tasks of one name or a flag's help for no parameter, fails there). ``--complete`` re-splits
    a quoted line with shlex, so it keeps Invoke's parser of every task."""
    from invoke import Parser, ParserContext

    line = "\0".join(argv)  # no task name holds a NUL: "in line" is "in one element"
    collection = program.collection
    ignore = program.config.tasks.ignore_unknown_help
    contexts = [
        ParserContext(
            name=primary,
            aliases=aliases,
            args=collection[primary].get_arguments(ignore_unknown_help=ignore),
        )
        for primary, aliases in collection.task_names.items()
        if primary in line or any(alias in line for alias in aliases)
    ]
    return Parser(initial=program.initial_context, contexts=contexts)


def interrupted() -> Exception:
    """Ctrl-C: the one line (to stderr, by Invoke) and exit code 130."""
    from invoke import Exit

    from .console import EXIT_INTERRUPTED, RUN, stop_live_lines

    stop_live_lines()
    sys.stdout.flush()
    return Exit(RUN.interrupted(), code=EXIT_INTERRUPTED)


def namespace(*extra: Collection | str) -> Collection:
    """The guide's sections in order, then ``setup``, any ``extra`` collections (a collection,
    or the name of one in :data:`taskindex.COLLECTIONS`), ``demo``.

    Built from the task index (:mod:`mlops_setup.taskindex`): listing the tasks or parsing their
    flags imports no section; a task's module is imported when the task runs."""
    install_invoke_hook()
    install()
    ns = Collection()
    for name in (*SECTIONS, "setup"):
        ns.add_collection(taskindex.collection(name))
    for collection in extra:
        ns.add_collection(
            taskindex.collection(collection) if isinstance(collection, str) else collection
        )
    ns.add_task(taskindex.task("demo"))
    return ns


def program() -> Program:
    """The ``mlops-setup`` program (a new one each call: a Program keeps state while it runs).

    It gets a deep copy of the namespace, as Invoke's own loader gives ``invoke`` one of
    ``tasks.ns``: parsing a task's flags pops their help texts out of the Task object, which
    belongs to its section module and must stay whole for the next parse in this process.
    """
    return Program(
        name=NAME,
        binary=NAME,
        binary_names=[NAME],
        namespace=copy.deepcopy(namespace()),
        version=__version__,
    )


def main() -> None:
    """Entry point of the ``mlops-setup`` console script."""
    program().run()
