"""The ``setup`` namespace: the whole guide in order.

* ``setup.all``: every step, prerequisites first. It stops at the first step that fails, prints
  that step's error and fix, then one line naming the step and how to go on
  (``setup.all: stopped at ci.secrets (step 7 of 15); ...``). A re-run resumes there: the steps
  before it find nothing to change and send no mutating request. The exit code is the failing
  step's (3 when a person must act first, such as approving a review).
* ``setup.plan``: every step as a dry run. A step that needs an earlier step's result (the repo
  that ``repo.create`` would make) says it "cannot be previewed yet" and the preview goes on.
  When nothing before it would change, its error is what an apply would stop at too: the
  preview stops there with that error, like ``setup.all``.
* ``setup.status``: one row per step, from a quiet dry run of it against the live systems:

  - ``done``: an apply would change nothing (the detail is its first warning, if any);
  - ``waiting``: on a person or a run (a review, checks, a CD run): the plan says so
    (``Plan.waiting``), or the dry run stopped with :class:`~mlops_setup.github_util.Waiting`;
  - ``missing``: something to do and nothing of it in place yet;
  - ``drifted``: something to do although it was in place: part of it still is (someone changed
    it, or a run stopped half way), or the setup was finished once (its last step, the
    hand-over issue, is in place) and this step no longer is;
  - ``blocked``: the dry run stopped with an error: an earlier step must run first, a right is
    missing, or something needs fixing by hand (the detail is the error's first line).

  Exit code: 0 when every step is done, 3 when the only steps not done are waiting, else 1.
  ``--check`` exits 1 unless every step is done (waiting included), for a scheduled drift check
  in CI. "Done" means ``setup.all`` would change nothing: a ``release`` branch behind the
  default branch is done (with a warning), because promoting to prod is a decision (``invoke release
  --update``), not drift.

* ``setup.destroy`` (:mod:`mlops_setup.teardown`): undoes the setup, only what mlops-setup made,
  in the reverse order; ``setup.plan --destroy`` prints its plan (``setup.destroy --dry-run``).

``setup.plan --json`` and ``setup.status --json`` print one JSON document on stdout and nothing
else there (errors go to stderr); ``runbook/reference.md`` describes its shape
(``JSON_FORMAT`` is its version). ``setup.all`` and ``setup.plan`` close with the whole guide's
count: ``setup.all: 21 added, 3 changed, 0 destroyed``.

Options that the guide implies for a full run are set here, per step (``STEP_OPTIONS``): the
CI/CD bootstrap PR and the ML code PR are merged, and the production jobs are enabled.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from typing import Any

from invoke import Collection, Exit, task

from .changes import SetupError, Tally, first_line
from .console import EXIT_FAILED, EXIT_OK, EXIT_WAITING, plural
from .session import DRY_RUN_HELP

JSON_FORMAT = 1  # version of the --json documents (runbook/reference.md)
JSON_HELP = "Print one JSON document on stdout instead of the text (see the reference page)."

# What a full run asks of each step beyond its defaults (task name -> plan options).
STEP_OPTIONS: dict[str, dict[str, Any]] = {
    "ci.workflows": {"merge": True},
    "code.pr": {"merge": True},
    "ci.auth": {"merge": True},
    "deploy.jobs": {"enable": True},
}
STATES = ("done", "waiting", "missing", "drifted", "blocked")


def guide_steps() -> list[Any]:
    """Every step of the guide, in the guide's order."""
    from .sections import ci, code, deploy, handoff, release, repo

    first = list(ci.prerequisites.STEPS)  # read-only: check the rights before changing anything
    # deploy-cicd.yml runs once the project code is on the default branch (as the guide says);
    # for a project generated with its workflows, ci.workflows has nothing to do anyway.
    # ci.auth rewrites the workflows once they are on the default branch, right after them.
    late = [*ci.workflows.STEPS, *ci.auth.STEPS]
    rest = [s for s in ci.STEPS if s not in first and s not in late]
    return [
        *first,
        *repo.STEPS,
        *rest,
        *code.STEPS,
        *late,
        *release.STEPS,
        *deploy.STEPS,
        *handoff.STEPS,
    ]


def options_for(step: Any) -> dict[str, Any]:
    import inspect

    wanted = STEP_OPTIONS.get(step.name, {})
    accepted = inspect.signature(step.plan).parameters
    return {k: v for k, v in wanted.items() if k in accepted}


# ----------------------------------------------------------------------------- setup.all/plan


class Stopped(SetupError):
    """The error of the step a run of the whole guide stopped at, followed by one line that
    names the step and says how to go on. Keeps the step's exit code (3: waiting on a person)."""

    def __init__(self, cause: SetupError, line: str) -> None:
        super().__init__(cause.message, fix=cause.fix, page=cause.page)
        self.cause = cause
        self.line = line
        self.exit_code = cause.exit_code

    def lines(self) -> list[str]:
        return [*self.cause.lines(), self.line]


def _as_setup_error(exc: Exception) -> SetupError | None:
    """``exc`` as a :class:`SetupError`: ours as they are, an API error nobody translated as
    the one line ``failures_as_exit`` would print; None for anything else (a bug: re-raised)."""
    from .session import api_error_text

    if isinstance(exc, SetupError):
        return exc
    text = api_error_text(exc)
    if text is None:
        return None
    return SetupError(text, fix="see the runbook page of this step")


def _is_waiting(exc: SetupError) -> bool:
    from .github_util import Waiting

    return isinstance(exc, Waiting)


@dataclass
class _Ran:
    plan: Any  # the step's Plan, or None when it stopped with an error
    error: SetupError | None = None
    step: Any = None
    deferred: bool = False  # a dry run that cannot preview this step before earlier ones run


def _run_one(session: Any, step: Any, *, dry_run: bool) -> _Ran:
    """Header, plan, show, apply (unless ``dry_run``), as a single task does; keeps the Plan."""
    from .session import Step, run_in_session

    seen: list[Any] = []

    def plan(s: Any, **options: Any) -> Any:
        seen.append(step.plan(s, **options))
        return seen[-1]

    try:
        run_in_session(
            session, Step(step.name, step.title, plan), dry_run=dry_run, **options_for(step)
        )
    except Exception as exc:
        error = _as_setup_error(exc)
        if error is None:
            raise
        return _Ran(seen[-1] if seen else None, error, step)
    return _Ran(seen[-1], step=step)


def run_all(session: Any, *, dry_run: bool, ran: list[_Ran] | None = None) -> Tally:
    """Every step in order; stops at the first failure (see the module docstring). Each step's
    outcome is appended to ``ran`` (if given), also when a step stops the run."""
    steps = guide_steps()
    task_name = "setup.plan" if dry_run else "setup.all"
    total = Tally()
    deferred = 0  # steps that cannot be previewed before earlier steps run
    pending = False  # an earlier step would change something, waits, or could not be previewed
    ran = [] if ran is None else ran
    for index, step in enumerate(steps):
        one = _run_one(session, step, dry_run=dry_run)
        ran.append(one)
        if one.error is not None:
            waiting = _is_waiting(one.error)
            if dry_run and (pending or waiting):
                session.out.warning(
                    f"{step.name} cannot be previewed yet: {first_line(one.error.message)}"
                )
                one.deferred = True
                deferred += 1
                pending = True
                continue
            where = f"{task_name}: stopped at {step.name} (step {index + 1} of {len(steps)})"
            if dry_run:
                line = f"{where}: an apply would stop there too"
            else:
                when = "once that is done" if waiting else "once that is fixed"
                line = f"{where}; run `invoke {task_name}` again {when}: it resumes there"
            raise Stopped(one.error, line) from None
        plan = one.plan
        total += Tally.of(plan.changes)
        pending = pending or bool(plan.changes) or bool(getattr(plan, "waiting", ""))
    if deferred:
        session.out.warning(
            f"{plural(deferred, 'step')} cannot be previewed before the steps above run"
        )
    session.out.summary(task_name, total, dry_run=dry_run)
    return total


def plan_document(ran: list[_Ran], stopped: Stopped | None = None) -> dict[str, Any]:
    """``setup.plan --json``: every step's changes, in the guide's order (see the reference)."""
    total = Tally()
    steps = []
    for one in ran:
        plan = one.plan
        changes = list(plan.changes) if plan is not None and one.error is None else []
        total += Tally.of(changes)
        if one.error is None:
            result = "changes" if changes else "no changes"
        else:
            result = "deferred" if one.deferred else "stopped"
        steps.append(
            {
                "name": one.step.name,
                "title": one.step.title,
                "result": result,
                "changes": [
                    {
                        "kind": c.kind,
                        "symbol": c.symbol,
                        "action": c.action,
                        "target": c.target,
                        "detail": c.detail,
                    }
                    for c in changes
                ],
                "in_place": list(plan.kept) if plan is not None else [],
                "warnings": list(plan.warnings) if plan is not None else [],
                "notes": list(plan.notes) if plan is not None else [],
                "waiting": getattr(plan, "waiting", "") if plan is not None else "",
                "error": _error_document(one.error),
            }
        )
    return {
        "format_version": JSON_FORMAT,
        "task": "setup.plan",
        "steps": steps,
        "summary": total.as_dict(),
        "stopped": None if stopped is None else {"step": ran[-1].step.name, "line": stopped.line},
        "exit_code": EXIT_OK if stopped is None else stopped.exit_code,
    }


def _error_document(error: SetupError | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {
        "message": error.message,
        "fix": error.fix,
        "page": error.page,
        "exit_code": error.exit_code,
    }


# ------------------------------------------------------------------------------- setup.status


DETAIL_WIDTH = 120  # the detail column's text is clipped to this, before "(+N more)"


def _more(lines: list[str]) -> str:
    """The first of ``lines`` (clipped), and how many more there are."""
    first = first_line(lines[0])
    if len(first) > DETAIL_WIDTH:
        first = first[: DETAIL_WIDTH - 3].rstrip() + "..."
    return first + (f" (+{len(lines) - 1} more)" if len(lines) > 1 else "")


def step_status(session: Any, step: Any, *, finished: bool = False) -> tuple[str, str]:
    """(state, detail) of one step, from a quiet dry run of its plan. ``finished``: the setup
    has been finished once, so a step with something to do has drifted (see the module
    docstring)."""
    from .console import Console

    loud = session.out
    session.out = Console(stream=io.StringIO(), err=io.StringIO())
    try:
        plan = step.plan(session, dry_run=True, **options_for(step))
    except Exception as exc:
        error = _as_setup_error(exc)
        if error is None:
            raise
        return ("waiting" if _is_waiting(error) else "blocked"), _more([error.message])
    finally:
        session.out = loud
    waiting = getattr(plan, "waiting", "")
    if waiting:
        return "waiting", waiting
    if not plan.changes and getattr(plan, "drifted", False):  # a mismatch, nothing to apply
        return "drifted", _more(plan.warnings)
    if not plan.changes:
        if getattr(plan, "status", ""):  # what the step says of itself (ci.auth: the mode)
            return "done", plan.status
        if plan.warnings:
            return "done", _more(plan.warnings)
        return "done", f"{len(plan.kept)} in place" if plan.kept else ""
    state = "drifted" if plan.kept or finished or getattr(plan, "drifted", False) else "missing"
    return state, _more([c.line() for c in plan.changes])


def status_code(rows: list[tuple[str, str, str]], *, check: bool = False) -> int:
    """0: every step done; 3: the only steps not done are waiting (1 with ``check``); else 1."""
    undone = {state for _, state, _ in rows if state != "done"}
    if not undone:
        return EXIT_OK
    if undone == {"waiting"} and not check:
        return EXIT_WAITING
    return EXIT_FAILED


def status_document(rows: list[tuple[str, str, str]], code: int) -> dict[str, Any]:
    """``setup.status --json`` (see the reference page)."""
    return {
        "format_version": JSON_FORMAT,
        "task": "setup.status",
        "steps": [{"name": n, "state": state, "detail": detail} for n, state, detail in rows],
        "counts": {s: sum(1 for _, state, _ in rows if state == s) for s in STATES},
        "exit_code": code,
    }


def _emit(document: dict[str, Any]) -> None:
    import json
    import sys

    from .console import commands

    sys.stdout.write(commands(json.dumps(document, indent=2)) + "\n")
    sys.stdout.flush()


def statuses(session: Any) -> list[tuple[str, str, str]]:
    """(step, state, detail) for every step, in the guide's order."""
    steps = guide_steps()
    last = step_status(session, steps[-1])
    finished = last[0] == "done"
    rows = []
    for step in steps[:-1]:
        rows.append((step.name, *step_status(session, step, finished=finished)))
    rows.append((steps[-1].name, *last))
    return rows


# -------------------------------------------------------------------------------------- tasks


@task(name="all", help={"dry_run": DRY_RUN_HELP})
def all_(c, dry_run=False):
    """Run the whole guide in order; a re-run resumes where it stopped."""
    from .session import failures_as_exit, open_session

    with open_session(c) as session, failures_as_exit():
        run_all(session, dry_run=dry_run)


@task(
    name="plan",
    help={
        "json": JSON_HELP,
        "destroy": "Preview setup.destroy instead (what `setup.destroy --dry-run` prints).",
    },
)
def plan_(c, json=False, destroy=False):
    """Preview the whole guide: every step with --dry-run."""
    from .console import Console
    from .session import failures_as_exit, open_session

    with open_session(c) as session, failures_as_exit():
        if json:
            session.out = Console(stream=io.StringIO(), err=session.out.err)
        ran: list[_Ran] = []
        try:
            if destroy:
                from .teardown import run_destroy

                run_destroy(session, dry_run=True, ran=ran)
            else:
                run_all(session, dry_run=True, ran=ran)
        except Stopped as exc:
            if json:
                _emit(plan_document(ran, exc))
            raise
        if json:
            _emit(plan_document(ran))


@task(
    help={
        "check": "Exit 1 unless every step is done, waiting included (for a drift check in CI).",
        "json": JSON_HELP,
    }
)
def status(c, check=False, json=False):
    """Show each step as done, missing, drifted, waiting or blocked (exit 0, 1 or 3)."""
    from .session import failures_as_exit, open_session

    with open_session(c) as session, failures_as_exit():
        rows = statuses(session)
    code = status_code(rows, check=check)
    if json:
        _emit(status_document(rows, code))
    else:
        session.out.table(rows, ("step", "state", "detail"))
    undone = [state for _, state, _ in rows if state != "done"]
    if undone:
        counts = ", ".join(f"{undone.count(s)} {s}" for s in STATES if s in undone)
        session.out.error([f"setup.status: {len(undone)} of {len(rows)} steps not done ({counts})"])
    if code:
        raise Exit(code=code)


# ---------------------------------------------------------------------------- setup.inspect

FACT_ROWS = (  # (label, key of ProjectModel.to_json(), key of its sources)
    ("project", "project_name", "project_name"),
    ("folder", "project_folder", "project_name"),
    ("setup mode", "setup_mode", "setup_mode"),
    ("cloud", "cloud", "cloud"),
    ("CI/CD", "cicd_platform", "cicd_platform"),
    ("default branch", "default_branch", "default_branch"),
    ("release branch", "release_branch", "release_branch"),
    ("schema", "schema", "schema"),
    ("model", "model_name", "model_name"),
)


def inspect_report(c: Any) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """(the JSON document, the rows of the table) for ``setup.inspect``. A setting that
    contradicts the project, or is missing, is one more problem in the report."""
    from .config import ConfigError, load_project_model, load_settings
    from .locate import config_layers, layers_line
    from .session import current_runtime

    rt = current_runtime()
    config = getattr(c, "config", None)
    try:  # the settings read the project once; a bad setting still shows the project
        settings = load_settings(config, env=rt.env, cwd=rt.cwd, allow_problems=True)
        doc = settings.model.to_json()
        doc["overrides"] = dict(settings.override)
    except ConfigError as exc:
        doc = load_project_model(config, env=rt.env, cwd=rt.cwd).to_json()
        doc["overrides"] = {}
        doc["problems"].append(str(exc))
    layers = config_layers(config, env=rt.env, cwd=rt.cwd)
    doc["config_layers"] = [layer.to_json() for layer in layers]
    src = doc["sources"]
    rows = [(label, str(doc[key] or "-"), src.get(where, "")) for label, key, where in FACT_ROWS]
    for env in ("staging", "prod"):
        rows.append(
            (f"{env} workspace", doc["workspaces"][env] or "-", src.get(f"workspaces.{env}", ""))
        )
    catalogs = ", ".join(f"{t}: {c}" for t, c in doc["catalogs"].items())
    rows.append(("catalogs", catalogs or "-", src.get("catalogs.staging", "").split(":")[0]))
    for env in ("staging", "prod"):
        for job in doc["jobs"][env]:
            rows.append((f"{env} job", job, src.get("jobs", "")))
        for which, table in doc["batch_inference"][env].items():
            rows.append(
                (f"{env} batch {which.split('_')[0]}", table, src.get("batch_inference", ""))
            )
    rows.append(("secrets CI reads", ", ".join(doc["secrets"]) or "-", src.get("secrets", "")))
    n = len(doc["workflows"])
    rows.append(("workflows", f"{n} in .github/workflows/ (--json lists them)" if n else "-", ""))
    rows.append(("config (later wins)", layers_line(layers, rt.cwd, rt.env), ""))
    return doc, rows


def unread_doc(problem: str) -> dict[str, Any]:
    """The ``setup.inspect --json`` document when no project could be read: every key, no
    facts, and the ``problem`` that stopped the reading."""
    from pathlib import Path

    from .project import ProjectModel

    doc = ProjectModel(root=Path(".")).to_json()
    doc.update(root=None, problems=[problem], overrides={})
    return doc


def show_inspect(doc: dict[str, Any], rows: list[tuple[str, str, str]], out: Any) -> None:
    """The facts, one a line with the file (and line) each came from, then the problems."""
    from pathlib import Path

    from .session import current_runtime

    root = Path(doc["root"])
    cwd = Path(current_runtime().cwd or ".").resolve()
    shown = root.relative_to(cwd) if root.is_relative_to(cwd) else root
    out.header("setup.inspect", f"the generated project in {shown}")
    width = max(len(label) for label, _, _ in rows)
    last = ""
    for label, value, source in rows:
        line = f"{label.ljust(width)}  {value}"
        where = "" if source == last else source  # said on the line above
        last = source or last
        if where and len(line) + len(where) + 6 <= 98:
            out.info(f"{line}  ({where})")
        else:
            out.info(line)
            if where:
                out.info(f"{' ' * width}  (from {where})")
    for note in doc["notes"]:
        out.note(note)
    for problem in doc["problems"]:
        out.warning(problem)
    n = len(doc["problems"])
    out.info("ready to set up" if not n else f"{plural(n, 'problem')} to fix before the setup")


@task(help={"json": "Print one JSON object (the facts, their sources and the problems) instead."})
def inspect(c, json=False):
    """Show what the generated project says (names, branches, cloud, hosts, catalogs, jobs)."""
    import json as json_

    from .config import ConfigError
    from .console import Console, commands
    from .session import failures_as_exit

    out = Console()
    with failures_as_exit(out):
        try:
            doc, rows = inspect_report(c)
        except ConfigError as exc:
            if json:  # a config that points at no project still answers in JSON, on stdout
                print(commands(json_.dumps(unread_doc(f"config error: {exc}"), indent=2)))
            raise
    if json:
        print(commands(json_.dumps(doc, indent=2)))
    else:
        show_inspect(doc, rows, out)
    if doc["problems"]:
        raise Exit(code=2)


def __getattr__(name: str) -> Any:
    """``destroy`` (the task lives with its logic, in :mod:`mlops_setup.teardown`) and ``ns``,
    imported when asked for: a run of the guide, which imports this module, does not compile
    the teardown's ~1,000 lines (the task index names the task's own module)."""
    if name == "destroy":
        from .teardown import destroy

        return destroy
    if name == "ns":
        return _collection()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _collection() -> Collection:
    from .teardown import destroy

    return Collection("setup", all_, plan_, status, inspect, destroy)
