"""What the operator sees.

Plain, stable lines (the runbook embeds them and doctests compare them):

    == repo.create: the GitHub repository ==
      ok  repo acme/my_mlops_project exists (private)
      +   create GitHub repo acme/my_mlops_project (private)
      !   warning text
    repo.create: 1 change applied

In a dry run ``+`` lines read ``~`` and the summary says what *would* change. Progress on waits
is one line per poll, so a replayed run prints the same thing every time.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


class Console:
    def __init__(self, stream: TextIO | None = None, err: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.err = err or sys.stderr

    def _print(self, text: str = "", *, err: bool = False) -> None:
        target = self.err if err else self.stream
        target.write(text + "\n")
        target.flush()

    def header(self, step: str, title: str) -> None:
        self._print(f"== {step}: {title} ==")

    def kept(self, what: str) -> None:
        self._print(f"  ok  {what}")

    def change(self, change: Any, *, dry_run: bool) -> None:
        self._print(f"  {'~' if dry_run else '+'}   {change.line()}")

    def info(self, text: str) -> None:
        self._print(f"  {text}")

    def warning(self, text: str) -> None:
        self._print(f"  !   {text}")

    def note(self, text: str) -> None:
        self._print(f"  >   {text}")

    def progress(self, text: str) -> None:
        self._print(f"  ..  {text}")

    def summary(self, step: str, changes: int, kept: int, *, dry_run: bool) -> None:
        if not changes:
            self._print(f"{step}: nothing to change")
        elif dry_run:
            self._print(f"{step}: dry run, {plural(changes, 'change')} would be made")
        else:
            self._print(f"{step}: {plural(changes, 'change')} applied")

    def error(self, lines: list[str]) -> None:
        for line in lines:
            self._print(line, err=True)

    def table(self, rows: list[tuple[str, ...]], headers: tuple[str, ...]) -> None:
        widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
        for row in [headers, *rows]:
            self._print(
                "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
            )
