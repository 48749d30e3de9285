"""GitHub helpers shared by the sections: pull requests, workflow runs, check runs, merging.

Every wait here is a bounded exponential backoff from :meth:`Session.backoff` (the sleep is
injected: replayed tests and the demo never sleep) and prints one progress line per poll, so a
replay prints the same lines every time. Errors come out as :class:`SetupError` in the guide's
terms; when a person must act first (approve a review, lift a protection rule) the error is a
:class:`Waiting` (exit code 3): a re-run resumes there.

Public API (``session`` is a :class:`mlops_setup.session.Session`, the other objects PyGithub's):

* ``find_pull(repo, base=, head= | head_prefix=, state="open")`` -> the newest matching PR
* ``dispatch_workflow(session, workflow, ref, inputs, known_run_ids=())`` -> :class:`Dispatched`
* ``recent_runs(workflow, ref, event="workflow_dispatch", limit=10)`` -> newest first
* ``wait_for_run(session, run, what=, timeout=None, page="")`` -> the completed run
* ``run_failure(run, what, page="")`` -> a :class:`SetupError` naming the failing job and step
* ``wait_for_checks(session, repo, sha, what=, timeout=None, appear_within=None)`` -> check runs
* ``check_summary(runs)``, ``failing_checks(runs)``, ``checks_error(runs, what, page)``
* ``protection(repo, branch)`` -> :class:`Protection` (or None when unknown)
* ``approvals(pr)`` -> (approving reviewers, reviewers asking for changes)
* ``merge_pull(session, pr, sha=, method=, what=, page="")`` -> the merge commit SHA

PyGithub is imported inside the functions only: ``invoke --list`` must not load it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .changes import SetupError

OK_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
"""Conclusions of a run or a check that do not block; every other one counts as failing."""


class Waiting(SetupError):
    """A person has to act first (a review, a protection rule, a conflict): not a failure of
    the tool. A re-run resumes where this one stopped. Exit code 3, so a script can tell
    "waiting" from "broken"."""

    exit_code = 3


def api_message(exc: Any) -> str:
    data = getattr(exc, "data", None)
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"]).splitlines()[0]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _short(sha: str | None) -> str:
    return (sha or "")[:7]


# ----------------------------------------------------------------------------- pull requests


def find_pull(
    repo: Any,
    *,
    base: str,
    head: str | None = None,
    head_prefix: str | None = None,
    state: str = "open",
) -> Any | None:
    """The newest pull request into ``base`` from branch ``head`` (exact name) or from a branch
    whose name starts with ``head_prefix``; None if there is none. ``state``: open, closed, all.

    An exact ``head`` is filtered by GitHub (``head=owner:branch``); a prefix is filtered here.
    """
    if (head is None) == (head_prefix is None):
        raise ValueError("give exactly one of head and head_prefix")
    if head is not None:
        owner = repo.full_name.split("/", 1)[0]
        found = list(repo.get_pulls(state=state, base=base, head=f"{owner}:{head}"))
    else:
        found = [
            p
            for p in repo.get_pulls(state=state, base=base)
            if p.head.ref.startswith(head_prefix or "")
        ]
    return max(found, key=lambda p: p.number, default=None)


# ---------------------------------------------------------------------------- workflow runs


@dataclass
class Dispatched:
    """A ``workflow_dispatch`` GitHub accepted: its run, and how we learned which run it is."""

    run: Any
    via: str  # "response" (return_run_details) or "listing" (the fallback)


def recent_runs(
    workflow: Any, ref: str, *, event: str = "workflow_dispatch", limit: int = 10, since: str = ""
) -> list[Any]:
    """The newest runs of ``workflow`` on ``ref`` for ``event`` (first page only), newest first;
    ``since`` (``YYYY-MM-DDTHH:MM:SSZ``) keeps runs created at or after it."""
    kwargs: dict[str, Any] = {"event": event, "branch": ref}
    if since:
        kwargs["created"] = f">={since}"
    runs = []
    for run in workflow.get_runs(**kwargs):
        runs.append(run)
        if len(runs) >= limit:
            break
    return runs


def dispatch_workflow(
    session: Any,
    workflow: Any,
    ref: str,
    inputs: dict[str, str],
    *,
    known_run_ids: Iterable[int] = (),
    page: str = "",
) -> Dispatched:
    """Dispatch ``workflow`` on ``ref`` and return the run it started.

    The run comes from the dispatch response (``return_run_details``) where the server supports
    it. A server that rejects that parameter (400 or 422, e.g. GitHub Enterprise Server from
    before it existed) gets the plain dispatch: a rejected request started nothing, so this
    cannot start two runs. The run is then found by listing the workflow's dispatch runs on
    ``ref`` created since a minute before the dispatch, leaving out ``known_run_ids``. A real
    error (403, 404, a 422 of the plain dispatch) is explained as a :class:`SetupError`.
    """
    from github import GithubException

    from .lost import describe, may_have_applied

    started = session.now()
    try:
        result = workflow.create_dispatch(ref, inputs=inputs, throw=True, return_run_details=True)
    except Exception as exc:
        if may_have_applied(exc):
            # the answer was lost, not the dispatch perhaps: look for the run it started
            # (below) instead of dispatching again, which could start a second run
            session.out.note(
                f"dispatching {_workflow_file(workflow)}: the answer was lost ({describe(exc)}); "
                "looking for the run it started instead of dispatching again"
            )
            result = True
        elif not isinstance(exc, GithubException):
            raise
        elif exc.status not in (400, 422):
            raise _dispatch_error(exc, workflow, ref, page) from None
        else:
            try:
                result = workflow.create_dispatch(ref, inputs=inputs, throw=True)
            except GithubException as again:
                if not may_have_applied(again):
                    raise _dispatch_error(again, workflow, ref, page) from None
                result = True
    if result is not True and getattr(result, "id", None):
        return Dispatched(result, "response")
    known = set(known_run_ids)
    since = (started - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    name = _workflow_file(workflow)

    def new_run() -> Any | None:
        fresh = [r for r in recent_runs(workflow, ref, since=since) if r.id not in known]
        return max(fresh, key=lambda r: r.id, default=None)

    from .backoff import WaitTimeout

    backoff = session.backoff(timeout=min(session.settings.ci.wait_timeout, 300))
    try:
        run = backoff.until(
            new_run,
            f"the run of {name}",
            on_wait=lambda n, delay: session.out.wait(
                f"the run of {name}", "not listed by GitHub yet", next_in=delay
            ),
        )
    except WaitTimeout as exc:
        raise SetupError(
            f"GitHub accepted the dispatch of {name} but listed no new run within "
            f"{exc.waited:.0f}s",
            fix=f"look for it at {_workflow_page(workflow, name)}; a re-run waits for a run in "
            "progress instead of starting another",
            page=page,
        ) from None
    return Dispatched(run, "listing")


def _workflow_page(workflow: Any, name: str) -> str:
    """The Actions page listing the runs of ``workflow`` (its ``html_url`` is the file's)."""
    html = getattr(workflow, "html_url", "") or ""
    repo = html.split("/blob/", 1)[0] if "/blob/" in html else ""
    return f"{repo}/actions/workflows/{name}" if repo else "the Actions tab of the repo"


def _workflow_file(workflow: Any) -> str:
    path = getattr(workflow, "path", "") or ""
    return path.rsplit("/", 1)[-1] or "the workflow"


def _dispatch_error(exc: Any, workflow: Any, ref: str, page: str) -> SetupError:
    name = _workflow_file(workflow)
    message = api_message(exc)
    if exc.status in (401, 403):
        return SetupError(
            f"GitHub refused to run {name} ({exc.status}): {message}",
            fix="use a token that may run workflows (classic: `repo` and `workflow` scopes; "
            "fine-grained: Actions read and write)",
            page=page,
        )
    if exc.status == 404:
        return SetupError(f"{name} is not on {ref} on GitHub (404)", page=page)
    return SetupError(f"GitHub refused to run {name} on {ref} ({exc.status}): {message}", page=page)


def wait_for_run(
    session: Any, run: Any, *, what: str = "", timeout: float | None = None, page: str = ""
) -> Any:
    """Poll ``run`` (a PyGithub ``WorkflowRun``, complete or not) until its status is
    ``completed``, with bounded backoff, one progress line per state (a live line on a
    terminal); return it.

    Gives up after ``timeout`` seconds (default ``ci.wait_timeout``) with a :class:`SetupError`
    that names the run's URL; the run itself goes on on GitHub. A run still ``waiting`` then is
    held by a deployment protection rule (a required reviewer, a wait timer): that is a
    :class:`Waiting` (exit 3) asking for the approval. Whether it succeeded is the caller's
    question: see ``run.conclusion`` and :func:`run_failure`.
    """
    from .backoff import WaitTimeout

    what = what or f"run {run.id}"
    timeout = session.settings.ci.wait_timeout if timeout is None else timeout
    state = {"status": "unknown"}

    def check() -> Any | None:
        run.update()
        state["status"] = run.status
        return run if run.status == "completed" else None

    def on_wait(attempt: int, delay: float) -> None:
        session.out.wait(what, state["status"], next_in=delay, url=run.html_url)

    try:
        session.backoff(timeout=timeout).until(check, what, on_wait=on_wait)
    except WaitTimeout as exc:
        if state["status"] == "waiting":
            raise Waiting(
                f"{what} is waiting for approval (a deployment protection rule holds it); "
                f"still waiting after {exc.waited:.0f}s: {run.html_url}",
                fix=f"approve it at {run.html_url} (Review deployments), or ask a required "
                "reviewer to; then run again: it waits for this run instead of starting another",
                page=page,
            ) from None
        raise SetupError(
            f"{what} did not finish within {exc.waited:.0f}s (still {state['status']})",
            fix=f"follow it at {run.html_url}; a re-run waits for it instead of starting "
            "another, or raise ci.wait_timeout",
            page=page,
        ) from None
    session.out.wait_over(what, f"completed, {run.conclusion}")
    return run


def run_failure(run: Any, what: str, page: str = "") -> SetupError:
    """The error for a completed run that did not succeed: its URL, the failing job and step."""
    lines = [f"{what} ended {run.conclusion}", f"  run: {run.html_url}"]
    for job in run.jobs():
        if job.conclusion in OK_CONCLUSIONS:
            continue
        step = next((s.name for s in job.steps if s.conclusion not in OK_CONCLUSIONS), None)
        at = f" at step {step!r}" if step else ""
        lines.append(f"  failing job: {job.name}{at} ({job.conclusion}): {job.html_url}")
    return SetupError(
        "\n".join(lines),
        fix="read the failing job's log, fix the cause, then run again",
        page=page,
    )


# ------------------------------------------------------------------------------ check runs


def wait_for_checks(
    session: Any,
    repo: Any,
    sha: str,
    *,
    what: str = "",
    timeout: float | None = None,
    appear_within: float | None = None,
) -> list[Any]:
    """The check runs on commit ``sha`` once all of them have completed.

    Polls with bounded backoff (``timeout``, default ``ci.wait_timeout``), one progress line per
    poll. Workflows take a moment to start: if no check run at all has appeared after
    ``appear_within`` seconds (default: twice ``ci.poll_max``), there are none to wait for and
    the result is ``[]``. Raises :class:`SetupError` on timeout. Failing checks are returned
    like the others: see :func:`failing_checks`.
    """
    from .backoff import WaitTimeout

    ci = session.settings.ci
    timeout = ci.wait_timeout if timeout is None else timeout
    appear_within = min(timeout, 2 * ci.poll_max) if appear_within is None else appear_within
    what = what or f"checks on {_short(sha)}"
    commit = repo.get_commit(sha)
    state: dict[str, Any] = {"waited": 0.0, "runs": []}

    def check() -> list[Any] | None:
        runs = list(commit.get_check_runs())
        state["runs"] = runs
        if not runs:
            return [] if state["waited"] >= appear_within else None
        return runs if all(r.status == "completed" for r in runs) else None

    def on_wait(attempt: int, delay: float) -> None:
        state["waited"] += delay
        runs = state["runs"]
        now = check_summary(runs) if runs else "none started yet"
        session.out.wait(what, now, next_in=delay)

    try:
        return session.backoff(timeout=timeout).until(check, what, on_wait=on_wait)
    except WaitTimeout as exc:
        raise SetupError(
            f"{what} did not finish within {exc.waited:.0f}s ({check_summary(state['runs'])})",
            fix="follow them on the pull request; a re-run waits for them again",
        ) from None


def failing_checks(runs: Iterable[Any]) -> list[Any]:
    return [r for r in runs if r.status == "completed" and r.conclusion not in OK_CONCLUSIONS]


def check_summary(runs: list[Any]) -> str:
    """``3 checks: 1 passed, 1 failed, 1 running``."""
    done = [r for r in runs if r.status == "completed"]
    failed = len(failing_checks(done))
    parts = [f"{len(done) - failed} passed"]
    if failed:
        parts.append(f"{failed} failed")
    if len(runs) > len(done):
        parts.append(f"{len(runs) - len(done)} running")
    noun = "check" if len(runs) == 1 else "checks"
    return f"{len(runs)} {noun}: " + ", ".join(parts)


def checks_error(runs: list[Any], what: str, page: str = "") -> SetupError:
    """The error listing each failing check with its URL."""
    lines = [f"{what}: {check_summary(runs)}"]
    for run in failing_checks(runs):
        lines.append(f"  failed: {run.name} ({run.conclusion}): {run.html_url}")
    return SetupError(
        "\n".join(lines),
        fix="fix what the failing checks report and push to the same branch; a re-run waits "
        "for the checks on the new head",
        page=page,
    )


# --------------------------------------------------------------------- protection, reviews


@dataclass
class Protection:
    """What the classic branch protection of a branch asks of a merge."""

    reviews: int = 0
    code_owners: bool = False
    checks: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        out = []
        if self.reviews:
            who = " (including code owners)" if self.code_owners else ""
            noun = "review" if self.reviews == 1 else "reviews"
            out.append(f"{self.reviews} approving {noun}{who}")
        if self.checks:
            out.append("passing checks: " + ", ".join(self.checks))
        return out + self.other


def protection(repo: Any, branch: str) -> Protection | None:
    """The protection rules of ``branch``: an empty :class:`Protection` when it has none, None
    when we may not read them (only admins may)."""
    from github import GithubException

    url = f"{repo.url}/branches/{quote(branch, safe='')}/protection"
    try:
        _, data = repo._requester.requestJsonAndCheck("GET", url)
    except GithubException as exc:
        if exc.status == 404:
            return Protection()
        if exc.status in (401, 403):
            return None
        raise
    data = data or {}
    reviews = data.get("required_pull_request_reviews") or {}
    checks = data.get("required_status_checks") or {}
    names = [c.get("context") for c in checks.get("checks") or []] or list(
        checks.get("contexts") or []
    )
    other = []
    for key, text in (
        ("required_signatures", "signed commits"),
        ("required_linear_history", "a linear history (squash or rebase)"),
        ("required_conversation_resolution", "all conversations resolved"),
        ("lock_branch", "the branch unlocked"),
    ):
        if (data.get(key) or {}).get("enabled"):
            other.append(text)
    return Protection(
        reviews=int(reviews.get("required_approving_review_count") or (1 if reviews else 0)),
        code_owners=bool(reviews.get("require_code_owner_reviews")),
        checks=[n for n in names if n],
        other=other,
    )


def approvals(pr: Any) -> tuple[list[str], list[str]]:
    """(reviewers whose latest review approves, reviewers whose latest review asks for changes)."""
    latest: dict[str, str] = {}
    for review in pr.get_reviews():
        if review.state in ("APPROVED", "CHANGES_REQUESTED", "DISMISSED"):
            latest[review.user.login] = review.state
    approved = sorted(u for u, s in latest.items() if s == "APPROVED")
    changes = sorted(u for u, s in latest.items() if s == "CHANGES_REQUESTED")
    return approved, changes


# ---------------------------------------------------------------------------------- merging


def merge_pull(
    session: Any, pr: Any, *, sha: str, method: str, what: str = "", page: str = ""
) -> str:
    """Merge ``pr`` if its head is still ``sha`` (GitHub checks that: the head-SHA guard);
    return the merge commit's SHA.

    * 405 (protection rules, a conflict, missing reviews) -> :class:`Waiting` naming what the
      base branch's protection asks for when we may read it, and GitHub's own reason;
    * 409 (the head moved since it was checked) -> :class:`SetupError`: nothing merged, a re-run
      checks the new head first;
    * 403 -> the token may not merge; 422 -> the repo does not allow ``method``.
    """
    from github import GithubException

    from .lost import confirm

    what = what or f"PR #{pr.number}"

    def merged() -> str | None:
        pr.update()  # GET the PR again: merged or not is GitHub's word, not the lost answer's
        return pr.merge_commit_sha if pr.merged else None

    try:
        status = confirm(
            lambda: pr.merge(merge_method=method, sha=sha),
            merged,
            f"merging {what}",
            fix="run again: it looks at the PR first and merges only if it is still open",
            page=page,
            note=session.out.note,
        )
        if isinstance(status, str):
            return status  # carried out, its answer lost: the merge commit GitHub now shows
    except GithubException as exc:
        reason = api_message(exc)
        if exc.status == 405:
            rules = protection(pr.base.repo, pr.base.ref) if pr.base.repo else None
            needs = "; ".join(rules.describe()) if rules else ""
            asks = f"; {pr.base.ref} requires {needs}" if needs else ""
            raise Waiting(
                f"GitHub will not merge {what} yet (405): {reason.rstrip('.')}{asks}",
                fix=f"get it ready at {pr.html_url} (approve it, or ask an admin to adjust the "
                f"protection of {pr.base.ref}), then run again: it resumes at the merge",
                page=page,
            ) from None
        if exc.status == 409:
            raise SetupError(
                f"the head of {what} moved after it was checked (we checked {_short(sha)}); "
                "nothing was merged",
                fix="run again: it checks the new head before merging",
                page=page,
            ) from None
        if exc.status in (401, 403):
            raise SetupError(
                f"GitHub refused to merge {what} ({exc.status}): {reason}",
                fix="use a token with write access to the repo (classic: `repo` scope; "
                "fine-grained: Pull requests and Contents read and write)",
                page=page,
            ) from None
        if exc.status == 422:
            raise SetupError(
                f"GitHub refused to merge {what} with method {method} (422): {reason}",
                fix="set github.merge_method to a method the repo allows (merge, squash, rebase)",
                page=page,
            ) from None
        raise
    if not status.merged:
        raise SetupError(f"GitHub did not merge {what}: {status.message}", page=page)
    return status.sha
