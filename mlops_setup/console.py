"""What the operator sees.

Plain, stable lines (the runbook embeds them and doctests compare them), in terraform's
vocabulary::

    == repo.create: the GitHub repository ==
      ok  repo acme/my-mlops-project exists (private)
      +   will create GitHub repo acme/my-mlops-project (private)     (a dry run)
      +   created GitHub repo acme/my-mlops-project (private)         (an apply, once done)
      ~   updated local main from upstream
      -   revoked token 1a2b3c4d of SP prod-my_mlops_project
      -/+ set secret PROD_WORKSPACE_TOKEN                              (a rotation)
      !   warning text
      >   note
      ..  staging CD run #1: in_progress after 5s
    repo.create: 1 added, 0 changed, 0 destroyed

The symbol is the change's kind (``changes.SYMBOLS``), the same in a dry run and an apply; the
verb says which it was. A step closes with ``N to add, N to change, N to destroy`` (dry run),
``N added, N changed, N destroyed`` (apply) or ``no changes``.

Colour only on a terminal: ``NO_COLOR`` (any value) turns it off, ``FORCE_COLOR`` (any value but
``0``) turns it on where there is no terminal; ``NO_COLOR`` wins. Piped output, CI logs and the
runbook's recorded runs are plain text.

A warning or note that is a :class:`~mlops_setup.changes.Once` is said in full the first time a
run (one command: :data:`RUN`, reset by each) shows its key, and as its one-line ``again`` form
after that (``see above``): ``setup.all`` and the demo explain the template's bare batch input
table once, not in each step that meets it.

On a terminal, lines longer than its width wrap at spaces under the text (never inside a word,
so a URL stays whole); elsewhere lines are left whole (a log is searched, not read on a
screen), unless a width is given: the demo and the runbook's recorded runs use 100 columns.

Waits (:meth:`Console.wait`): on a terminal, one live line (what, state, elapsed, next check,
URL) redrawn in place by ``rich``, imported only then; anywhere else, one line per change of
state, not per poll, with the time waited so far (the sum of the delays slept, so a replayed run
prints the same thing every time).
"""

from __future__ import annotations

import os
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

DEMO_WIDTH = 100  # columns of the demo and the runbook's recorded runs

# The command the operator typed, for the commands our hints name (`invoke ci.secrets`):
# ``mlops-setup`` while the installed command runs (see ``cli.install``), where ``invoke``
# finds no tasks; the messages are written with ``invoke``, the runbook's command.
PROGRAM = "invoke"


def commands(text: str) -> str:
    """``text`` with each `` `invoke `` command hint naming :data:`PROGRAM` instead."""
    return text if PROGRAM == "invoke" else text.replace("`invoke ", f"`{PROGRAM} ")


# Exit codes; README.md's table lists exactly these (tests/test_exit_codes.py holds them together).
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_WAITING = 3
EXIT_INTERRUPTED = 130

_COLORS = {
    "+": "32",  # green
    "~": "33",  # yellow
    "-": "31",  # red
    "-/+": "35",  # magenta
    "ok": "2",  # dim
    "!": "33",
    ">": "36",  # cyan
    "..": "36",
    "error": "1;31",
    "header": "1",
}


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def wants_color(stream: Any, env: Any = None) -> bool:
    """Colour for ``stream``: a terminal, unless ``NO_COLOR``; anything if ``FORCE_COLOR``."""
    env = os.environ if env is None else env
    if "NO_COLOR" in env:
        return False
    force = env.get("FORCE_COLOR")
    if force is not None and force not in ("", "0"):
        return True
    return is_terminal(stream)


def _progressive(verb: str) -> str:
    """``open`` -> ``opening``, ``create`` -> ``creating``, ``set`` -> ``setting``."""
    if verb in ("set", "commit"):
        return verb + verb[-1] + "ing"
    if verb.endswith("e") and not verb.endswith("ee"):
        return verb[:-1] + "ing"
    return verb + "ing"


def elapsed_text(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


@dataclass
class _Wait:
    what: str
    state: str = ""
    url: str = ""
    waited: float = 0.0  # sum of the delays slept so far
    shown: str | None = None  # the state last printed (plain output)
    started: float = field(default_factory=time.monotonic)
    next_at: float = 0.0


@dataclass
class RunRecord:
    """What this process applied, step by step: the line printed on Ctrl-C comes from it. And
    what it has explained: a :class:`~mlops_setup.changes.Once` is said in full once a run, in
    its ``again`` form after that (``told``, ``repeated``)."""

    applied: list[tuple[str, str]] = field(default_factory=list)  # (step, shown line)
    step: str = ""  # the step running now
    said: set[str] = field(default_factory=set)  # keys of the Once texts explained
    repeated: list[tuple[str, Any]] = field(default_factory=list)  # (mark, Once) said again

    def reset(self) -> None:
        self.applied.clear()
        self.step = ""
        self.forget()

    def forget(self) -> None:
        """Nothing explained yet: what follows prints as a step run on its own does."""
        self.said.clear()
        self.repeated.clear()

    def told(self, mark: str, text: str) -> str:
        """``text`` as this run shows it: a Once already explained reads its ``again`` line."""
        key = getattr(text, "key", "")
        if not key:
            return text
        if key not in self.said:
            self.said.add(key)
            return text
        self.repeated.append((mark, text))
        return text.again  # type: ignore[attr-defined]

    def interrupted(self) -> str:
        """The one line for Ctrl-C: what was applied, and that a re-run resumes."""
        where = f" during {self.step}" if self.step else ""
        if not self.applied:
            done = "nothing was applied"
        else:
            step, line = self.applied[-1]
            steps = sorted({s for s, _ in self.applied}, key=[s for s, _ in self.applied].index)
            done = (
                f"{plural(len(self.applied), 'change')} applied in {', '.join(steps)} "
                f"(the last: {step}: {line})"
            )
        return f"interrupted{where}: {done}; run the same command again: it resumes there"


RUN = RunRecord()
_LIVE: set[Console] = set()  # consoles showing a live line now (Ctrl-C stops them)


def stop_live_lines() -> None:
    for console in list(_LIVE):
        console.close()


class Console:
    def __init__(
        self,
        stream: TextIO | None = None,
        err: TextIO | None = None,
        *,
        color: bool | None = None,
        live: bool | None = None,
        width: int | None = None,
    ) -> None:
        self.stream = stream or sys.stdout
        self.err = err or sys.stderr
        self.color = wants_color(self.stream) if color is None else color
        self.live = is_terminal(self.stream) if live is None else live
        self._width = width
        self._waits: dict[str, _Wait] = {}
        self._live_wait: _Wait | None = None
        self._live_display: Any = None
        self._pending: Any = None  # the change being applied (see begin)

    # --------------------------------------------------------------------------- plumbing

    @property
    def width(self) -> int:
        """Columns to wrap at; 0: never wrap."""
        if self._width is not None:
            return self._width
        if is_terminal(self.stream):
            import shutil

            return max(40, shutil.get_terminal_size((DEMO_WIDTH, 24)).columns)
        return 0

    def _paint(self, key: str, text: str) -> str:
        code = _COLORS.get(key)
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and code else text

    def _print(self, text: str = "", *, err: bool = False, as_is: bool = False) -> None:
        text = text if as_is else commands(text)  # as_is: a file's text (a diff), not ours
        self._flush_pending()
        self._end_live()
        target = self.err if err else self.stream
        target.write(text + "\n")
        target.flush()

    def _mark(self, mark: str, text: str, *, err: bool = False) -> None:
        """``  MARK text``, the mark in a 4-column gutter, wrapped under the text."""
        lines = self._wrap(commands(text), 6)
        self._print(f"  {self._paint(mark, mark.ljust(3))} {lines[0]}", err=err)
        for line in lines[1:]:
            self._print(f"      {line}", err=err)

    def _wrap(self, text: str, indent: int) -> list[str]:
        room = max(20, self.width - indent)
        if not self.width or len(text) <= room:
            return [text]
        return textwrap.wrap(text, room, break_long_words=False, break_on_hyphens=False) or [text]

    # ------------------------------------------------------------------------------ lines

    def header(self, step: str, title: str) -> None:
        RUN.step = step
        self._waits.clear()
        self._print(self._paint("header", f"== {step}: {title} =="))

    def kept(self, what: str) -> None:
        self._mark("ok", what)

    def change(self, change: Any, *, dry_run: bool) -> None:
        self._pending = None
        self._mark(change.symbol, change.told(dry_run=dry_run))

    def begin(self, change: Any) -> None:
        """``change`` is being applied; its line comes once it is done. Should the apply print
        anything first (a wait), ``opening PR ...`` comes before that, as terraform's
        ``Creating...``. ``begin(None)``: the apply ended."""
        self._pending = change

    def _flush_pending(self) -> None:
        change, self._pending = self._pending, None
        if change is not None:
            self._mark(change.symbol, f"{_progressive(change.action)} {change.target} ...")

    def applied(self, step: str, change: Any) -> None:
        RUN.applied.append((step, change.told(dry_run=False)))

    def info(self, text: str) -> None:
        for line in self._wrap(commands(text), 2):
            self._print(f"  {line}")

    def verbatim(self, lines: list[str]) -> None:
        """Lines shown as they are (a diff), behind a ``|`` gutter, never wrapped."""
        for line in lines:
            self._print(f"      | {line}".rstrip(), as_is=True)

    def warning(self, text: str) -> None:
        self._mark("!", RUN.told("!", text))

    def note(self, text: str) -> None:
        self._mark(">", RUN.told(">", text))

    def progress(self, text: str) -> None:
        self._mark("..", text)

    def summary(self, step: str, tally: Any, *, dry_run: bool) -> None:
        """``step: N to add, ...`` (dry run), ``step: N added, ...`` (apply), ``no changes``."""
        if not tally:
            self._print(f"{step}: no changes")
        else:
            self._print(f"{step}: {tally.text(dry_run=dry_run)}")

    def error(self, lines: list[str]) -> None:
        for index, line in enumerate(lines):
            self._print(self._paint("error", line) if index == 0 else line, err=True)

    def table(self, rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> None:
        widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
        for row in [headers, *rows]:
            self._print(
                "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )

    # ------------------------------------------------------------------------------ waits

    def wait(self, what: str, state: str, *, next_in: float, url: str = "") -> None:
        """One poll of a wait found ``what`` in ``state``; the next check is in ``next_in`` s.

        Plain output: a line when the state changes (the first names the URL). A terminal: the
        live line is redrawn. Call :meth:`wait_over` when the wait ends."""
        entry = self._waits.get(what)
        if entry is None:
            entry = self._waits[what] = _Wait(what, url=url)
        entry.state = state
        entry.url = url or entry.url
        entry.next_at = time.monotonic() + next_in
        if self.live:
            self._show_live(entry)
        elif entry.shown != state:
            self._progress_line(entry, first=entry.shown is None)
            entry.shown = state
        entry.waited += next_in

    def wait_over(self, what: str, state: str) -> None:
        """The wait for ``what`` ended in ``state`` (``completed, success``): one line."""
        entry = self._waits.pop(what, None)
        if entry is None:
            self.progress(f"{what}: {state}")
            return
        if self._live_wait is entry:
            self._live_wait = None
            self._stop_display()
        entry.state = state
        self._progress_line(entry, first=False)

    def _progress_line(self, entry: _Wait, *, first: bool) -> None:
        waited = (time.monotonic() - entry.started) if self.live else entry.waited
        text = f"{entry.what}: {entry.state}"
        if waited >= 1:
            text += f" after {elapsed_text(waited)}"
        if first and entry.url:
            text += f": {entry.url}"
        self.progress(text)

    def _show_live(self, entry: _Wait) -> None:
        self._flush_pending()
        if self._live_wait is not entry:
            self._end_live()
            from rich.console import Console as RichConsole
            from rich.live import Live

            self._live_wait = entry
            self._live_display = Live(
                _LiveLine(self, entry),
                console=RichConsole(file=self.stream, no_color=not self.color),
                refresh_per_second=4,
                transient=True,
            )
            self._live_display.start()
            _LIVE.add(self)
        else:
            self._live_display.refresh()

    def _stop_display(self) -> None:
        _LIVE.discard(self)
        display, self._live_display = self._live_display, None
        if display is not None:
            display.stop()

    def _end_live(self) -> None:
        """Something else is printed: the live line gives way to a plain line of its state."""
        entry = self._live_wait
        if entry is None:
            return
        self._live_wait = None
        self._stop_display()
        self._progress_line(entry, first=True)

    def close(self) -> None:
        self._end_live()


class _LiveLine:
    """The live line of a wait, computed at each redraw (elapsed and next check move)."""

    def __init__(self, console: Console, entry: _Wait) -> None:
        self.console = console
        self.entry = entry

    def __rich__(self) -> Any:
        from rich.text import Text

        entry = self.entry
        now = time.monotonic()
        spinner = "|/-\\"[int(now * 4) % 4]
        parts = [
            f"{entry.what}: {entry.state}",
            elapsed_text(now - entry.started),
            f"next check in {max(0, int(entry.next_at - now))}s",
        ]
        if entry.url:
            parts.append(entry.url)
        line = Text(f"  {spinner}   ")
        line.append(" · ".join(parts))
        line.truncate(self.console.width or DEMO_WIDTH, overflow="ellipsis")
        return line
