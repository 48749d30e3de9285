"""The plan/apply model every task shares.

A step reads live state and returns a :class:`Plan`: what is already in place (``keep``), what
it will change (``add``), and warnings. :func:`execute` shows the plan and applies it unless this
is a dry run. The lines shown in a dry run are exactly the changes an apply makes, in the same
order. A change line names its resource and action, never a secret value.

Changes run in order; a change may depend on an earlier one through ``Plan.results`` (the value
each ``apply`` returned, by change key) or a closure. A failure stops the run at that change and
says which changes were applied before it, so the operator knows where a re-run resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

RUNBOOK_URL = "runbook"


def first_line(text: object) -> str:
    """The first non-empty line of an error or text (messages stay one line)."""
    lines = str(text).strip().splitlines()
    if lines:
        return lines[0]
    return type(text).__name__ if isinstance(text, BaseException) else ""


class SetupError(Exception):
    """A step cannot go on.

    ``message`` says what is wrong, ``fix`` what to do about it, in the guide's terms (which
    right is missing, and where), ``page`` the runbook page (``ci.md#prerequisites``).
    """

    exit_code = 1

    def __init__(self, message: str, *, fix: str = "", page: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.page = page

    def lines(self) -> list[str]:
        out = [f"error: {self.message}"]
        if self.fix:
            out.append(f"  fix: {self.fix}")
        if self.page:
            out.append(f"  see: {RUNBOOK_URL}/{self.page}")
        return out


@dataclass
class Change:
    """One mutation: ``action`` on ``target``; ``apply`` performs it."""

    action: str
    target: str
    detail: str = ""
    apply: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    key: str = ""

    def line(self) -> str:
        text = f"{self.action} {self.target}"
        return f"{text} ({self.detail})" if self.detail else text


@dataclass
class Plan:
    """What one step found and what it will change."""

    step: str
    changes: list[Change] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    # Set when the step cannot finish until a person or a run acts (a review, a workflow run);
    # ``setup.status`` reports the step as "waiting" with this text.
    waiting: str = ""
    # Set when something of ours was in place and no longer is (a secret holding a revoked
    # token): ``setup.status`` reports "drifted", not "missing", whatever else is in place.
    drifted: bool = False

    def add(
        self,
        action: str,
        target: str,
        apply: Callable[[], Any],
        detail: str = "",
        key: str = "",
    ) -> Change:
        change = Change(action, target, detail, apply, key or f"{action} {target}")
        self.changes.append(change)
        return change

    def keep(self, what: str) -> None:
        self.kept.append(what)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def note(self, message: str) -> None:
        self.notes.append(message)

    @property
    def empty(self) -> bool:
        return not self.changes


@dataclass
class Outcome:
    step: str
    applied: int
    unchanged: int
    dry_run: bool
    results: dict[str, Any]


def execute(plan: Plan, out: Any, *, dry_run: bool) -> Outcome:
    """Show ``plan``; apply its changes in order unless ``dry_run``; report a summary."""
    for what in plan.kept:
        out.kept(what)
    for message in plan.warnings:
        out.warning(message)
    applied = 0
    for change in plan.changes:
        out.change(change, dry_run=dry_run)
        if dry_run:
            continue
        try:
            result = change.apply() if change.apply else None
        except SetupError as exc:
            if applied:
                exc.fix = (exc.fix + " " if exc.fix else "") + (
                    f"({applied} change(s) before this one were applied; a re-run resumes here)"
                )
            raise
        plan.results[change.key] = result
        applied += 1
    for message in plan.notes:
        out.note(message)
    out.summary(plan.step, len(plan.changes), len(plan.kept), dry_run=dry_run)
    return Outcome(plan.step, applied, len(plan.kept), dry_run, plan.results)
