"""The plan/apply model every task shares.

A step reads live state and returns a :class:`Plan`: what is already in place (``keep``), what
it will change (``add``), and warnings. :func:`execute` shows the plan and applies it unless this
is a dry run. The lines shown in a dry run are exactly the changes an apply makes, in the same
order. A change line names its resource and action, never a secret value.

Every change has a *kind*, in terraform's vocabulary, shown by the same symbol in a dry run and
an apply: ``+`` create, ``~`` update in place, ``-`` delete (revoke), ``-/+`` replace (a rotated
credential). The kind follows from the action verb (``VERBS``: ``grant`` creates, ``merge``
updates, ``revoke`` deletes); where a verb can mean either (``set`` a secret that exists already
replaces it), the step says so with ``kind=``. A dry run's line says what *will* happen
(``will create SP ...``), an apply's what did (``created SP ...``), printed once it is done.

Changes run in order; a change may depend on an earlier one through ``Plan.results`` (the value
each ``apply`` returned, by change key) or a closure. A failure stops the run at that change and
says which changes were applied before it, so the operator knows where a re-run resumes.

A warning or note that several steps give about the same thing (the template's bare batch input
table: no grant on it, the jobs reading it will fail) is a :class:`Once`: a run of several steps
(``setup.all``, the demo) says it in full the first time and in its one-line ``again`` form
after that (``console.RUN`` remembers); a step run on its own says it in full.
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


KINDS = ("create", "update", "delete", "replace")
SYMBOLS = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}

# Action verb -> (its kind unless the step says otherwise, its past tense).
VERBS: dict[str, tuple[str, str]] = {
    "create": ("create", "created"),
    "init": ("create", "initialized"),
    "add": ("create", "added"),
    "exclude": ("create", "excluded"),
    "commit": ("create", "committed"),
    "mint": ("create", "minted"),
    "open": ("create", "opened"),
    "dispatch": ("create", "dispatched"),
    "assign": ("create", "assigned"),
    "grant": ("create", "granted"),
    "set": ("create", "set"),
    "push": ("update", "pushed"),
    "merge": ("update", "merged"),
    "update": ("update", "updated"),
    "fast-forward": ("update", "fast-forwarded"),
    "switch": ("update", "switched"),
    "enable": ("update", "enabled"),
    "restore": ("update", "restored"),
    "revoke": ("delete", "revoked"),
    "delete": ("delete", "deleted"),
    "remove": ("delete", "removed"),
}


class Once(str):
    """A warning or note explained in full once a run: ``key`` names what it explains (steps
    that explain the same thing use the same key), ``again`` is the line shown once the run has
    explained it (what this step concludes, and that the explanation is above). It is the full
    text everywhere else: ``--json``, ``setup.status``."""

    key: str
    again: str

    def __new__(cls, text: str, *, key: str = "", again: str = "") -> Once:
        self = super().__new__(cls, text)
        self.key = key
        self.again = again
        return self


def bare_input_key(table: str, fix: str) -> str:
    """The :class:`Once` key of a batch input table that is no ``catalog.schema.table`` name
    (the template's TODO), set in ``fix`` (the file, or the config key, to change)."""
    return f"bare input table {table!r} ({fix})"


@dataclass
class Change:
    """One mutation: ``action`` on ``target``; ``apply`` performs it. ``kind`` is one of
    ``KINDS``; left empty, it is the action verb's (``VERBS``)."""

    action: str
    target: str
    detail: str = ""
    apply: Callable[[], Any] | None = field(default=None, repr=False, compare=False)
    key: str = ""
    kind: str = ""

    def __post_init__(self) -> None:
        if self.action not in VERBS:
            raise ValueError(f"unknown action verb {self.action!r}: add it to changes.VERBS")
        self.kind = self.kind or VERBS[self.action][0]
        if self.kind not in KINDS:
            raise ValueError(f"unknown change kind {self.kind!r}; one of {KINDS}")

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.kind]

    def line(self) -> str:
        """``create SP x (detail)``: what the change is, in no tense."""
        text = f"{self.action} {self.target}"
        return f"{text} ({self.detail})" if self.detail else text

    def told(self, *, dry_run: bool) -> str:
        """The line shown: ``will create SP x`` in a dry run, ``created SP x`` once applied."""
        verb = f"will {self.action}" if dry_run else VERBS[self.action][1]
        text = f"{verb} {self.target}"
        return f"{text} ({self.detail})" if self.detail else text


def untold(text: str) -> str:
    """:meth:`Change.line` back from a shown line (``created SP x`` -> ``create SP x``)."""
    if text.startswith("will "):
        return text[5:]
    for verb, (_, past) in VERBS.items():
        if text.startswith(past + " "):
            return verb + text[len(past) :]
    return text


@dataclass
class Tally:
    """Changes by kind, counted as terraform counts them (a replace adds one and destroys one)."""

    add: int = 0
    change: int = 0
    destroy: int = 0

    def count(self, kind: str) -> None:
        if kind in ("create", "replace"):
            self.add += 1
        if kind in ("delete", "replace"):
            self.destroy += 1
        if kind == "update":
            self.change += 1

    def __iadd__(self, other: Tally) -> Tally:
        self.add += other.add
        self.change += other.change
        self.destroy += other.destroy
        return self

    def __bool__(self) -> bool:
        return bool(self.add or self.change or self.destroy)

    @classmethod
    def of(cls, changes: list[Change]) -> Tally:
        tally = cls()
        for change in changes:
            tally.count(change.kind)
        return tally

    def text(self, *, dry_run: bool) -> str:
        if dry_run:
            return f"{self.add} to add, {self.change} to change, {self.destroy} to destroy"
        return f"{self.add} added, {self.change} changed, {self.destroy} destroyed"

    def as_dict(self) -> dict[str, int]:
        return {"add": self.add, "change": self.change, "destroy": self.destroy}


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
        kind: str = "",
    ) -> Change:
        change = Change(action, target, detail, apply, key or f"{action} {target}", kind)
        self.changes.append(change)
        return change

    def keep(self, what: str) -> None:
        self.kept.append(what)

    def warn(self, message: str, *, once: str = "", again: str = "") -> None:
        """A warning; with ``once`` (a key) and ``again``, a :class:`Once`."""
        self.warnings.append(Once(message, key=once, again=again) if once else message)

    def note(self, message: str, *, once: str = "", again: str = "") -> None:
        self.notes.append(Once(message, key=once, again=again) if once else message)

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
    tally: Tally = field(default_factory=Tally)


def execute(plan: Plan, out: Any, *, dry_run: bool) -> Outcome:
    """Show ``plan``; apply its changes in order unless ``dry_run``; report a summary.

    In a dry run each change's line is shown up front; in an apply, once the change is done
    (what it printed while running, such as a wait, comes first), and ``out.applied`` hears of
    it, so an interrupted run can say what it had done."""
    for what in plan.kept:
        out.kept(what)
    for message in plan.warnings:
        out.warning(message)
    applied = 0
    for change in plan.changes:
        if dry_run:
            out.change(change, dry_run=True)
            continue
        begin = getattr(out, "begin", None)
        if begin:
            begin(change)
        try:
            result = change.apply() if change.apply else None
        except SetupError as exc:
            if applied:
                exc.fix = (exc.fix + " " if exc.fix else "") + (
                    f"({applied} change(s) before this one were applied; a re-run resumes here)"
                )
            raise
        finally:
            if begin:
                begin(None)
        plan.results[change.key] = result
        applied += 1
        out.change(change, dry_run=False)
        applied_hook = getattr(out, "applied", None)
        if applied_hook:
            applied_hook(plan.step, change)
    for message in plan.notes:
        out.note(message)
    tally = Tally.of(plan.changes)
    out.summary(plan.step, tally, dry_run=dry_run)
    return Outcome(plan.step, applied, len(plan.kept), dry_run, plan.results, tally)


def without_project(settings: Any, plan: Plan, what: str) -> bool:
    """True (and a line saying so) when the root holds no project: a CICD_Only setup, whose
    guide ends with the CI/CD scaffolding; ``what`` names the step's subject."""
    if settings.model.selected is not None:
        return False
    plan.keep(
        f"{settings.setup_mode or 'this'} root holds no ML project yet: no {what}; add a "
        "project (Project_Only) and run the setup again"
    )
    return True
