"""The runbook site (``runbook/``, MkDocs): ``docs.refresh``, ``docs.build``, ``docs.serve``.

What a task prints is never pasted into a page by hand. Hand-written prose lives in
``runbook/*.md``; everything a task prints sits between marker comments, and ``docs.refresh``
rewrites those regions and nothing else (a second refresh changes nothing)::

    <!-- generated: task repo.create -->
    ...
    <!-- /generated -->

Kinds of region:

* ``task NAME``: the task's one-line summary, then tabs: "Preview" (``$ invoke NAME --dry-run``)
  and "Run" (``$ invoke NAME``), both recorded from the demo's replay, and "Help"
  (``$ invoke --help NAME``). A task the demo does not run gets only its help; when its step
  joins ``demo.demo_steps()``, the next refresh adds the runs. A task whose docstring starts with
  "Not built yet" also gets a warning to do the step by hand.
* ``section NS``: every task of namespace ``NS`` that no ``task`` region (of any page) shows,
  each under its own heading. So a task that lands in a section appears on the section's page
  at the next refresh, before anyone writes prose for it.
* ``tasks``: the reference: every task of ``tasks.py``'s namespace with its help, by namespace.
* ``list``: ``$ invoke --list``.
* ``demo``: ``$ invoke demo``, the whole offline run, folded; ``demo-auth MODE``: ``$ invoke
  demo --auth MODE`` (runbook/ci.md#auth).
* ``file PATH``: a file of this repository (``config/defaults.yaml``), folded.

Where the output comes from (:class:`Runner`, shared by ``docs.refresh`` and the doctests):

* ``invoke --help NAME``, ``invoke --list``, ``invoke demo``: run in this process with the same
  ``Program`` settings as the ``invoke`` command, stdout captured in a buffer. A buffer is not a
  terminal, so Invoke wraps help at 80 columns exactly as it does through a pipe (a test checks
  this against a real ``invoke`` process with a pipe).
* ``invoke STEP --dry-run`` and ``invoke STEP``: one replay of the demo with previews (the
  cassette ``tests/cassettes/test_demo/test_demo_previews.yaml``, real git in a temporary
  folder), in the guide's order: each step's preview, then its run, as an operator goes
  through the guide. A transcript
  entry that carries ``options`` (flags the demo passed) shows them in the command.
  ``setup.destroy`` (runbook/teardown.md) has a recording of its own: the demo's setup, then
  the destroy's preview and run (``tests/cassettes/test_teardown/test_recorded_destroy.yaml``).

Output is compared line by line with trailing whitespace and trailing blank lines dropped, so an
editor that trims whitespace does not break a page.

The doctests (``tests/test_runbook.py``): every ```` ```console ```` block of every page is
parsed with Sybil and each ``$ command`` in it is re-run through the :class:`Runner` and
compared with the output shown; a page whose generated regions are not what ``docs.refresh``
would write fails with a unified diff and the hint to run ``invoke docs.refresh``. Commands that
the doctests cannot run (installing, anything against live systems) go in ```` ```bash ````
blocks, never ```` ```console ````.

``invoke --list`` must stay fast: MkDocs, Sybil and the demo are imported inside the tasks.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import os
import re
import shlex
import subprocess
import sys
from functools import cached_property
from pathlib import Path
from typing import Any

from invoke import Collection, Exit, task

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = "runbook"
REFRESH = "run `invoke docs.refresh`"
TASK_INDEX = "mlops_setup/data/tasks.json"  # written by docs.refresh too (taskindex.py)
STUB_PREFIX = "Not built yet"

REGION = re.compile(
    r"^<!-- generated: (?P<spec>[^\n]*?) -->\n(?P<body>.*?)^<!-- /generated -->[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
MARKER_LINE = re.compile(r"^<!-- (generated:|/generated)", re.MULTILINE)
KINDS = {
    "task": True,
    "section": True,
    "tasks": False,
    "list": False,
    "demo": False,
    "demo-auth": True,  # `invoke demo --auth MODE` (runbook/ci.md#auth)
    "file": True,
}


class DocsError(Exception):
    """A page cannot be generated or checked: a bad marker, an unknown task, a failed demo."""


# ---------------------------------------------------------------------------- the output


def clean(text: str) -> str:
    """Output as a page shows it: trailing whitespace and trailing blank lines dropped."""
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n")


def step_command(name: str, phase: str, options: dict[str, Any] | None = None) -> str:
    """The command line of one recorded run: ``invoke ci.workflows --dry-run --merge``."""
    argv = ["invoke", name]
    if phase == "plan":
        argv.append("--dry-run")
    for key, value in sorted((options or {}).items()):
        flag = key.replace("_", "-")
        if value is True:
            argv.append(f"--{flag}")
        elif value is False:
            argv.append(f"--no-{flag}")
        else:
            argv.append(f"--{flag}={value}")
    return shlex.join(argv)


REPLAYS: dict[tuple[Any, ...], dict[str, Any]] = {}
"""What this process replayed, by :func:`replay_key`: ``"runs"`` (:attr:`Runner.runs`) and
``"outputs"``, what each ``invoke demo ...`` printed. Both depend on the code and the recordings
alone; help texts and ``--list`` are captured anew by each Runner."""


def replay_key(root: Path) -> tuple[Any, ...]:
    """The folder and the recordings the runs replay (name and SHA-256 of each): a recording
    rewritten in this process (``pytest --compose``, then ``docs.refresh``) is replayed anew,
    even at the same size within the clock's tick (~10 ms to hash them all)."""
    from .teardown import RECORDING

    root = Path(root).resolve()
    cassettes = root / "tests" / "cassettes"
    files = sorted((cassettes / "test_demo").glob("*.yaml"))
    files.append(cassettes / "test_teardown" / RECORDING)
    import hashlib

    stamps = []
    for path in files:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            continue
        stamps.append((path.name, digest))
    return (str(root), tuple(stamps))


class Runner:
    """What each console command of the runbook prints; every result is computed once."""

    def __init__(self, root: Path = ROOT) -> None:
        self.root = Path(root)
        self._outputs: dict[str, str] = {}

    def invoke(self, *argv: str) -> tuple[int, str, str]:
        """``invoke ARGV`` in this process, as the ``invoke`` command runs it; stdout not a tty."""
        from invoke import Program, __version__

        program = Program(
            name="Invoke", binary="inv[oke]", binary_names=["invoke", "inv"], version=__version__
        )
        out, err = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                program.run(["invoke", "--search-root", str(self.root), *argv])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        return code, out.getvalue(), err.getvalue()

    @cached_property
    def namespace(self) -> Collection:
        """The root collection of ``tasks.py``, loaded as Invoke loads it."""
        from invoke import FilesystemLoader

        module, _ = FilesystemLoader(start=str(self.root)).load("tasks")
        return Collection.from_module(module)

    def task_names(self, prefix: str = "") -> list[str]:
        """Every task name (``ci.secrets``), in ``tasks.py``'s order; only under ``prefix.``."""
        names = list(self.namespace.task_names)
        return [n for n in names if n.startswith(prefix + ".")] if prefix else names

    def summary(self, name: str) -> str:
        if name not in self.namespace.task_names:
            raise DocsError(f"there is no task {name!r}; the tasks are: {self.task_names()}")
        doc = (self.namespace[name].__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @cached_property
    def runs(self) -> dict[str, list[tuple[str, str, str]]]:
        """Task -> [(phase, command, output)]: what its step printed in one replay of the demo.

        Replayed once per process and set of recordings (:data:`REPLAYS`): ``docs.build`` run
        in the tests' process reuses the replay their Runner made."""
        replayed = REPLAYS.setdefault(replay_key(self.root), {})
        if "runs" not in replayed:
            replayed["runs"] = self._replay()
        return {step: list(step_runs) for step, step_runs in replayed["runs"].items()}

    def _replay(self) -> dict[str, list[tuple[str, str, str]]]:
        import tempfile

        from .demo import demo_environment, run_demo

        entries: list[Any] = []
        cassettes = self.root / "tests" / "cassettes" / "test_demo"
        with (
            tempfile.TemporaryDirectory(prefix="mlops-setup-docs-") as tmp,
            contextlib.redirect_stdout(io.StringIO()),
        ):
            try:
                with demo_environment(Path(tmp)) as workdir:  # each step's dry run, then its run
                    run_demo(workdir, transcript=entries, previews=True, cassette_dir=cassettes)
            except Exception as exc:
                raise DocsError(
                    f"the demo's replay failed, so no run can be recorded: {exc} "
                    "(`invoke demo` shows where)"
                ) from exc
            entries += self.teardown_runs()
        runs: dict[str, list[tuple[str, str, str]]] = {}
        for entry in entries:
            command = step_command(entry.step, entry.phase, getattr(entry, "options", None))
            step_runs = runs.setdefault(entry.step, [])
            if command not in (c for _, c, _ in step_runs):  # a step run twice: the first
                step_runs.append((entry.phase, command, clean(entry.text)))
        return runs

    def teardown_runs(self) -> list[Any]:
        """``setup.destroy --dry-run`` and ``setup.destroy`` after the demo's setup: a recording
        of their own (:data:`mlops_setup.teardown.RECORDING`), replayed like the demo's."""
        import tempfile

        from .demo import demo_environment
        from .teardown import RECORDING, record_destroy

        entries: list[Any] = []
        cassette_dir = self.root / "tests" / "cassettes" / "test_teardown"
        if not (cassette_dir / RECORDING).exists():
            return entries  # a copy without the tests: the page shows the help only
        with tempfile.TemporaryDirectory(prefix="mlops-setup-docs-") as tmp:
            try:
                with demo_environment(Path(tmp)) as workdir:
                    record_destroy(workdir, cassette_dir=cassette_dir, transcript=entries)
            except Exception as exc:
                raise DocsError(
                    f"the recorded destroy's replay failed: {exc} (`pytest "
                    "tests/test_teardown.py -k recorded` shows where)"
                ) from exc
        return entries

    @property
    def recorded(self) -> dict[str, str]:
        """Command -> output of every recorded run."""
        return {c: out for step_runs in self.runs.values() for _, c, out in step_runs}

    def runs_of(self, name: str) -> list[tuple[str, str]]:
        """(tab label, command) of each recorded run of task ``name``: preview, then run."""
        return [
            ("Preview" if phase == "plan" else "Run", command)
            for phase, command, _ in self.runs.get(name, [])
        ]

    def output(self, command: str) -> str:
        """What ``command`` (``invoke ...``) prints, as shown on a page."""
        if command not in self._outputs:
            self._outputs[command] = self._output(command)
        return self._outputs[command]

    def _output(self, command: str) -> str:
        if command in self.recorded:
            return self.recorded[command]
        argv = shlex.split(command)
        offline = (
            argv[1:] == ["--list"]
            or argv[1:] == ["demo"]
            or (argv[1:3] == ["demo", "--auth"] and len(argv) == 4)
            or argv[1:2] == ["--help"]
        )
        if argv[:1] != ["invoke"] or not offline:
            raise DocsError(
                f"`$ {command}` cannot be checked: a console block may show `invoke --help TASK`, "
                "`invoke --list`, `invoke demo`, or a step's run recorded by the demo (a task of "
                "`demo_steps()`, with or without --dry-run); show other commands in a bash block"
            )
        demo = argv[1] == "demo"
        outputs = (
            REPLAYS.setdefault(replay_key(self.root), {}).setdefault("outputs", {}) if demo else {}
        )
        if command in outputs:
            return outputs[command]
        code, out, err = self.invoke(*argv[1:])
        if code != 0:
            raise DocsError(f"`{command}` failed (exit {code}): {clean(err or out)[-500:]}")
        if demo:
            outputs[command] = clean(out + err)
        return clean(out + err)


# --------------------------------------------------------------------------- rendering


def console(command: str, output: str) -> str:
    """A console block: ``$ command`` and its output."""
    return "\n".join(["```console", f"$ {command}", *([output] if output else []), "```"])


def indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line if line else "" for line in text.splitlines())


def tabs(items: list[tuple[str, str]]) -> str:
    return "\n\n".join(f'=== "{label}"\n\n{indent(body)}' for label, body in items)


def anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def page_title(text: str) -> str:
    found = re.search(r"^# (.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else ""


class Runbook:
    """The pages of ``runbook/`` and what ``docs.refresh`` makes of them."""

    def __init__(self, root: Path = ROOT, runner: Runner | None = None) -> None:
        self.root = Path(root)
        self.dir = self.root / RUNBOOK
        self.runner = runner or Runner(self.root)

    @cached_property
    def pages(self) -> dict[str, str]:
        return {p.name: p.read_text() for p in sorted(self.dir.glob("*.md"))}

    def regions(self, page: str) -> list[tuple[re.Match[str], str, str]]:
        """(match, kind, argument) of each generated region of ``page``; malformed ones raise."""
        text = self.pages[page]
        found = []
        for match in REGION.finditer(text):
            kind, _, arg = match["spec"].strip().partition(" ")
            if kind not in KINDS or KINDS[kind] != bool(arg) or " " in arg:
                raise DocsError(
                    f"{RUNBOOK}/{page}: unknown region `generated: {match['spec']}`; use "
                    "task NAME, section NAMESPACE, tasks, list, demo, demo-auth MODE or file PATH"
                )
            if MARKER_LINE.search(match["body"]):
                raise DocsError(f"{RUNBOOK}/{page}: region `{match['spec']}` is not closed")
            found.append((match, kind, arg))
        if len(MARKER_LINE.findall(text)) != 2 * len(found):
            raise DocsError(f"{RUNBOOK}/{page}: a `<!-- generated: ... -->` marker has no pair")
        return found

    def placed(self, page: str) -> list[str]:
        """Tasks shown by a ``task`` region of ``page``."""
        return [arg for _, kind, arg in self.regions(page) if kind == "task"]

    def home_of(self, name: str) -> str | None:
        """The page that shows task ``name`` (a ``task`` or ``section`` region), if any."""
        namespace = name.rpartition(".")[0]
        for page in self.pages:
            for _, kind, arg in self.regions(page):
                if (kind, arg) in (("task", name), ("section", namespace)):
                    return page
        return None

    def refreshed(self, page: str) -> str:
        """``page`` with every generated region rewritten."""
        text = self.pages[page]
        out, pos = [], 0
        for match, kind, arg in self.regions(page):
            try:
                body = self.render(page, kind, arg)
            except DocsError as exc:
                raise DocsError(f"{RUNBOOK}/{page}, `generated: {match['spec']}`: {exc}") from exc
            out += [text[pos : match.start("body")], f"\n{body}\n\n" if body else "\n"]
            pos = match.end("body")
        return "".join(out) + text[pos:]

    def render(self, page: str, kind: str, arg: str) -> str:
        if kind == "task":
            return self.task_block(arg)
        if kind == "section":  # tasks no page shows in a task region of its own
            placed = {name for other in self.pages for name in self.placed(other)}
            return "\n\n".join(
                f"### `invoke {name}` {{#{anchor(name)}}}\n\n" + self.task_block(name, headed=True)
                for name in self.runner.task_names(arg)
                if name not in placed
            )
        if kind == "tasks":
            return self.reference()
        if kind == "list":
            return self.console_of("invoke --list")
        if kind == "demo":
            block = self.console_of("invoke demo")
            return f'??? example "The whole guide, offline: `invoke demo`"\n\n{indent(block)}'
        if kind == "demo-auth":
            command = f"invoke demo --auth {arg}"
            block = self.console_of(command)
            return (
                f'??? example "The whole guide with ci.auth_mode {arg}: `{command}`"\n\n'
                + indent(block)
            )
        return self.file_block(arg)

    def console_of(self, command: str) -> str:
        return console(command, self.runner.output(command))

    def task_block(self, name: str, *, headed: bool = False) -> str:
        """Summary (unless under a heading), a warning for a stub, tabs: Preview, Run, Help."""
        summary = self.runner.summary(name)
        parts = [summary if headed else f"**`invoke {name}`**: {summary}"]
        if summary.startswith(STUB_PREFIX):
            parts.append(
                f'!!! warning "Not built yet"\n\n    `invoke {name}` does not do this step yet: '
                "it stops with an error. Do the step by hand as this page describes."
            )
        items = [(label, self.console_of(cmd)) for label, cmd in self.runner.runs_of(name)]
        items.append(("Help", self.console_of(f"invoke --help {name}")))
        parts.append(tabs(items))
        return "\n\n".join(parts)

    def reference(self) -> str:
        groups: dict[str, list[str]] = {}
        for name in self.runner.task_names():
            groups.setdefault(name.rpartition(".")[0], []).append(name)
        parts = []
        for namespace, names in sorted(groups.items(), key=lambda item: not item[0]):
            if namespace:
                parts.append(f"## `{namespace}` {{#{anchor(namespace)}}}")
            else:
                parts.append("## Other tasks {#other-tasks}")
            homes = sorted({home for n in names if (home := self.home_of(n))})
            if homes:
                links = ", ".join(f"[{page_title(self.pages[h]) or h}]({h})" for h in homes)
                parts.append(f"In the guide: {links}.")
            for name in names:
                parts.append(f"### `{name}` {{#{anchor(name)}}}")
                parts.append(self.console_of(f"invoke --help {name}"))
        return "\n\n".join(parts)

    def file_block(self, rel: str) -> str:
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            raise DocsError(f"`generated: file {rel}`: no such file in this repository")
        language = {".yaml": "yaml", ".yml": "yaml", ".py": "python", ".toml": "toml"}
        block = f"```{language.get(path.suffix, 'text')}\n{clean(path.read_text())}\n```"
        return f'??? abstract "`{rel}`"\n\n{indent(block)}'

    def stale(self) -> dict[str, str]:
        """Page -> unified diff, for every page that ``docs.refresh`` would change."""
        diffs = {}
        for page, text in self.pages.items():
            new = self.refreshed(page)
            if new != text:
                diffs[page] = unified_diff(text, new, f"{RUNBOOK}/{page}", "after docs.refresh")
        return diffs

    def refresh(self) -> list[str]:
        """Rewrite the stale pages; returns their names."""
        changed = []
        for page, text in self.pages.items():
            new = self.refreshed(page)
            if new != text:
                (self.dir / page).write_text(new)
                changed.append(page)
        self.__dict__.pop("pages", None)
        return changed


def unified_diff(old: str, new: str, old_name: str, new_name: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_name, new_name
        )
    )


# ------------------------------------------------------------------------------ doctests


def parse_console(source: str) -> list[tuple[str, str]]:
    """(command, output shown) of each ``$ command`` of a console block."""
    pairs: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:].strip(), []))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise DocsError("a console block starts with `$ command`")
    return [(command, clean("\n".join(out))) for command, out in pairs]


def check_console(source: str, runner: Runner, where: str = "") -> str | None:
    """None if every command of the block prints what the block shows, else what differs."""
    problems = []
    try:
        pairs = parse_console(source)
        if not pairs:
            raise DocsError("an empty console block")
        for command, shown in pairs:
            actual = runner.output(command)
            if actual != shown:
                diff = unified_diff(shown + "\n", actual + "\n", where or "page", f"$ {command}")
                problems.append(f"`$ {command}` prints something else now:\n{diff}")
    except DocsError as exc:
        problems.append(str(exc))
    if not problems:
        return None
    return "\n".join(problems) + f"\nTo bring the runbook up to date, {REFRESH}."


# --------------------------------------------------------------------------------- tasks


@task(help={"check": "Change nothing; show the diff and exit 1 if a page is out of date (for CI)."})
def refresh(c, check=False):
    """Regenerate the help texts and recorded runs embedded in runbook/*.md (and the task index)."""
    from . import taskindex

    try:
        runbook = Runbook()
        if check:
            stale = runbook.stale()
            for diff in stale.values():
                print(diff)
            if taskindex.stale():
                stale[TASK_INDEX] = ""
            if stale:
                raise Exit(f"out of date: {', '.join(stale)}; {REFRESH}", 1)
            print(f"docs: all {len(runbook.pages)} pages and the task index up to date")
            return
        if taskindex.write():
            print(f"docs: updated {TASK_INDEX}")
        changed = runbook.refresh()
    except (DocsError, taskindex.NotIndexable) as exc:
        raise Exit(f"docs: {exc}", 1) from None
    for page in changed:
        print(f"docs: updated {RUNBOOK}/{page}")
    print(f"docs: {len(changed) or 'no'} page{'' if len(changed) == 1 else 's'} changed")


def _mkdocs(*args: str) -> list[str]:
    return [sys.executable, "-m", "mkdocs", *args, "--config-file", str(ROOT / "mkdocs.yml")]


def _mkdocs_env() -> dict[str, str]:
    return {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


@task(help={"site_dir": "Folder to write the site to (default: site/ in this repository)."})
def build(c, site_dir=""):
    """Build the runbook site (mkdocs --strict); refuses pages that need docs.refresh."""
    from . import taskindex

    try:
        stale = list(Runbook().stale())
        if taskindex.stale():
            stale.append(TASK_INDEX)
    except (DocsError, taskindex.NotIndexable) as exc:
        raise Exit(f"docs: {exc}", 1) from None
    if stale:
        raise Exit(f"docs: out of date: {', '.join(stale)}; {REFRESH} first", 1)
    target = site_dir or str(ROOT / "site")
    done = subprocess.run(
        _mkdocs("build", "--strict", "--site-dir", target), env=_mkdocs_env(), check=False
    )
    if done.returncode:
        raise Exit("docs: mkdocs build --strict failed (see above)", done.returncode)
    print(f"docs: built {target}/index.html")


@task(help={"addr": "Address and port to serve on (default: 127.0.0.1:8000)."})
def serve(c, addr="127.0.0.1:8000"):
    """Serve the runbook site locally, rebuilt on every edit."""
    subprocess.run(_mkdocs("serve", "--strict", "--dev-addr", addr), env=_mkdocs_env(), check=False)


ns = Collection("docs", refresh, build, serve)
