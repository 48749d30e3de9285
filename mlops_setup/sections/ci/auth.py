"""How CI authenticates to Databricks: ``ci.auth_mode`` (token | oauth | oidc).

``ci.secrets`` keeps its name (it is the guide's section) and stores what the mode needs; this
module holds what the modes beyond ``token`` add:

* ``token`` (the template's default): a workspace PAT of each SP on aws/gcp
  (``{STAGING,PROD}_WORKSPACE_TOKEN``); :mod:`.secrets`.
* ``oauth``: an OAuth secret of each SP (:mod:`.oauth`), ``{STAGING,PROD}_DATABRICKS_CLIENT_ID``
  and ``..._CLIENT_SECRET`` secrets.
* ``oidc``: GitHub OIDC federation (:mod:`mlops_setup.federation`): federation policies on the
  SPs, GitHub environments (prod locked to the release branch), the client ids as Actions
  variables; no Databricks secret in GitHub at all.

Every mode also stores ``WORKFLOW_TOKEN`` (deploy-cicd.yml checks out with it), as the token
mode does. Switching modes never leaves CI without a working credential: ``ci.secrets`` only
adds the new mode's credentials; ``ci.auth`` rewrites the workflows (:mod:`mlops_setup.
workflow_auth`) in a pull request of its own, merges it once its checks pass with the new
credentials, and only then retires the old mode's credentials (tokens revoked, OAuth secrets
and federation policies deleted, their GitHub secrets and variables deleted), each once no
workflow on the default or the release branch reads it. A run stopped between the merge and
the revoke finishes it the next time: what to retire is read from the live systems. Under
oauth/oidc, ``code.pr`` commits the project's workflows already rewritten (a project generated
with them), so the ML code PR's checks run with the new credentials.
"""

from __future__ import annotations

from typing import Any

from invoke import task

from ... import ENVIRONMENTS
from ...changes import Plan, SetupError
from ...session import DRY_RUN_HELP, Session, Step, run_step

PAGE = "ci.md#auth"


def plan_credentials(session: Session, dry_run: bool = False, rotate: bool = False) -> Plan:
    """``ci.secrets`` for ``ci.auth_mode`` oauth or oidc."""
    from .secrets import _repo, check_workflow_token, service_principal

    settings = session.settings
    mode = settings.ci.auth_mode
    plan = Plan("ci.secrets")
    repo = _repo(session)
    existing = {s.name: s for s in repo.get_secrets()}
    write_pat = check_workflow_token(session, existing, rotate, "nothing was changed")
    old = [n for n in settings.model.secrets if n.endswith(("_WORKSPACE_TOKEN", "_CLIENT_SECRET"))]
    old = [n for n in old if not (mode == "oauth" and n.endswith("_DATABRICKS_CLIENT_SECRET"))]
    if old:
        plan.warn(
            f"the project's workflows still read {', '.join(old)}: `invoke code` (workflows "
            f"not on GitHub yet) or `invoke ci.auth` switches them to {mode}, and ci.auth "
            "retires the old credentials once no workflow reads them (runbook ci.md#auth)"
        )
    sps = {env: service_principal(session, env) for env in ENVIRONMENTS}
    if mode == "oidc":
        from ... import federation

        for env in ENVIRONMENTS:
            federation.plan_policy(session, plan, env, sps[env])
        federation.plan_environments(session, plan, repo)
        federation.plan_variables(session, plan, repo, sps)
        if rotate:
            plan.note("oidc stores no Databricks credential: --rotate rewrites WORKFLOW_TOKEN only")
    else:
        from .oauth import plan_oauth_secrets

        plan_oauth_secrets(session, plan, repo, existing, sps, dry_run=dry_run, rotate=rotate)
    from .secrets import plan_workflow_token

    plan_workflow_token(session, plan, repo, existing, write_pat)
    return plan


# ------------------------------------------------------------------------------- ci.auth

BRANCH = "mlops-setup/ci-auth-{mode}"
MERGE_HELP = (
    "Merge the pull request once its checks pass (head-SHA guarded), then retire the old "
    "mode's credentials."
)


def _target(session: Session) -> Any:
    from ...workflow_auth import Target

    settings = session.settings
    hosts = {env: settings.databricks.workspace(env).host for env in ENVIRONMENTS}
    return Target(
        settings.ci.auth_mode, settings.databricks.cloud, hosts, settings.github.release_branch
    )


def workflow_paths(session: Session) -> list[str]:
    """Every workflow of the project: those in its tree and those deploy-cicd.yml makes."""
    model = session.settings.model
    bundle = model.selected
    return sorted({*model.workflows, *(bundle.workflows if bundle is not None else ())})


def _read_branch(repo: Any, ref: str, paths: list[str]) -> dict[str, Any]:
    """``{path: content file}`` of the workflows on ``ref`` (those that are there)."""
    from github import UnknownObjectException

    found = {}
    for path in paths:
        try:
            found[path] = repo.get_contents(path, ref=ref)
        except UnknownObjectException:
            continue
    return found


def _text(content: Any) -> str:
    return content.decoded_content.decode("utf-8")


def _branch_exists(repo: Any, name: str) -> str | None:
    from github import GithubException

    try:
        return repo.get_git_ref(f"heads/{name}").object.sha
    except GithubException as exc:
        if exc.status in (404, 409):
            return None
        raise


def plan_auth(session: Session, dry_run: bool = False, merge: bool = False) -> Plan:
    """``ci.auth``: the workflows on the default branch follow ``ci.auth_mode``, through a pull
    request of ours whose checks must pass before it is merged; then the credentials of the
    mode the workflows no longer read are retired (:func:`plan_retire`)."""
    import difflib

    from ...workflow_auth import WorkflowError, convert
    from .secrets import _repo

    settings = session.settings
    s = settings.github
    mode, base = settings.ci.auth_mode, s.default_branch
    plan = Plan("ci.auth")
    repo = _repo(session)
    paths = workflow_paths(session)
    on_base = _read_branch(repo, base, paths)
    missing = [p for p in paths if p not in on_base]
    bundle = settings.model.selected
    if bundle is not None and any(p in missing for p in bundle.workflows):
        raise SetupError(
            f"the CI/CD workflows of {settings.project.name} are not on {base} yet, so there "
            "is nothing to point at the auth mode",
            fix="run `invoke code --merge` and `invoke ci.workflows --merge` first (setup.all "
            "runs them before ci.auth)",
            page=PAGE,
        )
    target = _target(session)
    changed: dict[str, tuple[Any, str]] = {}  # path -> (content on base, new text)
    after: dict[str, str] = {}  # the workflows on base once our PR is merged
    for path, content in sorted(on_base.items()):
        text = _text(content)
        try:
            new, warnings = convert(text, target)
        except WorkflowError as exc:
            raise SetupError(
                f"{path}: {exc}",
                fix="edit that job by hand so it authenticates as one environment, then run again",
                page=PAGE,
            ) from None
        for warning in warnings:
            plan.warn(f"{path}: {warning}")
        after[path] = new
        if new != text:
            changed[path] = (content, new)
    existing = {x.name for x in repo.get_secrets()}
    _check_reads(session, plan, repo, on_base, existing)
    branch = BRANCH.format(mode=mode)
    plan.status = f"{mode} in force on {base}" if not changed else ""  # type: ignore[attr-defined]
    if not changed:
        plan.keep(f"the workflows on {base} authenticate with {mode}")
    else:
        if dry_run:
            for path, (content, new) in changed.items():
                diff = difflib.unified_diff(
                    _text(content).splitlines(True), new.splitlines(True), f"a/{path}", f"b/{path}"
                )
                session.out.verbatim("".join(diff).splitlines())
        _plan_pull(session, plan, repo, branch, changed, merge=merge, dry_run=dry_run)
    if changed and not merge:
        return plan
    plan_retire(session, plan, repo, after, existing)
    return plan


def _check_reads(
    session: Session, plan: Plan, repo: Any, on_base: dict[str, Any], existing: set[str]
) -> None:
    """``setup.status``'s mismatches: a workflow reading a secret or variable the repo does not
    have (that workflow fails), and, under oidc, a federation policy of our SPs whose subject
    names another repo (someone else can act as the SP). Both mark the step drifted."""
    from ... import federation
    from ...workflow_auth import secrets_read, vars_read

    settings = session.settings
    variables: set[str] | None = None
    for path, content in sorted(on_base.items()):
        text = _text(content)
        for name in sorted(secrets_read(text) - existing):
            plan.warn(f"{path} reads secret {name}, which the repo does not have")
            plan.drifted = True
        wanted = vars_read(text)
        if wanted:
            variables = set(federation.live_variables(repo)) if variables is None else variables
            for name in sorted(wanted - variables):
                plan.warn(f"{path} reads variable {name}, which the repo does not have")
                plan.drifted = True
    if settings.ci.auth_mode != "oidc":
        return
    from ...databricks_util import find_service_principal

    mine = f"repo:{settings.github.full_name}:"
    for env in ENVIRONMENTS:
        sp = find_service_principal(session, env)
        if sp is None:
            continue
        for policy in federation.github_policies(session, sp):
            if not policy.subject.startswith(mine):
                plan.warn(
                    f"federation policy {policy.policy_id} of SP {sp.display_name} lets "
                    f"{policy.subject or 'an unknown subject'} act as it, not this repo"
                )
                plan.drifted = True


def plan_local_workflows(session: Session, plan: Plan) -> None:
    """``code.pr`` under oauth/oidc: the workflows in the project's tree, which reach the default
    branch with the ML code pull request (a project generated with them), are rewritten for the
    mode before they are committed. Otherwise that PR's own checks would read secrets the mode
    never stores and fail; this way they are the first proof that the new credentials work, and
    ``ci.auth`` later finds nothing to change."""
    from ...workflow_auth import WorkflowError, convert

    settings = session.settings
    mode, root = settings.ci.auth_mode, settings.project.dir
    target = _target(session)
    for path in workflow_paths(session):
        file = root / path
        if not file.is_file():
            continue
        text = file.read_text(encoding="utf-8")
        try:
            new, _ = convert(text, target)
        except WorkflowError as exc:
            plan.warn(f"{path}: {exc}; left for `invoke ci.auth`")
            continue
        if new != text:
            plan.add(
                "update",
                f"{path} for {mode} credentials",
                lambda f=file, t=new: f.write_text(t, encoding="utf-8"),
                detail="ci.auth_mode",
            )


def _plan_pull(
    session: Session,
    plan: Plan,
    repo: Any,
    branch: str,
    changed: dict[str, tuple[Any, str]],
    *,
    merge: bool,
    dry_run: bool,
) -> None:
    """Branch, commit each changed workflow, open the PR, wait for its checks, merge."""
    from ...github_util import find_pull
    from ...workflow_auth import signing_in_jobs

    s = session.settings.github
    mode, base = session.settings.ci.auth_mode, s.default_branch
    state: dict[str, Any] = {"pr": find_pull(repo, base=base, head=branch)}
    proving = set().union(*(signing_in_jobs(new) for _, new in changed.values()))
    head = _branch_exists(repo, branch)
    if head is None:
        base_sha = repo.get_git_ref(f"heads/{base}").object.sha

        def create_branch() -> str:
            from ...lost import confirm

            made = confirm(
                lambda: repo.create_git_ref(f"refs/heads/{branch}", base_sha).object.sha,
                lambda: _branch_exists(repo, branch),  # never a second create
                f"creating branch {branch}",
                fix="run `invoke ci.auth` again: it looks for the branch first",
                page=PAGE,
                note=session.out.note,
            )
            state["head"] = made
            return made

        plan.add("create", f"branch {branch} from {base}", create_branch)
        on_branch: dict[str, Any] = {}
    else:
        state["head"] = head
        on_branch = _read_branch(repo, branch, list(changed))
    for path, (content, new) in changed.items():
        there = on_branch.get(path)
        if there is not None and _text(there) == new:
            plan.keep(f"{path} on {branch} reads {mode} credentials")
            continue
        blob = there.sha if there is not None else content.sha

        def commit(p: str = path, text: str = new, sha: str = blob) -> str:
            from ...lost import confirm

            def landed() -> str | None:  # the branch holds the new text: the commit was made
                found = _read_branch(repo, branch, [p]).get(p)
                if found is None or _text(found) != text:
                    return None
                return _branch_exists(repo, branch)

            done = confirm(
                lambda: repo.update_file(
                    p,
                    f"ci: authenticate {p.rsplit('/', 1)[-1]} with {mode} (mlops-setup)",
                    text,
                    sha,
                    branch=branch,
                ),
                landed,
                f"committing {p} on {branch}",
                fix="run `invoke ci.auth` again: it compares the branch's files first",
                page=PAGE,
                note=session.out.note,
            )
            state["head"] = done if isinstance(done, str) else done["commit"].sha
            return state["head"]

        plan.add("commit", f"{path} on {branch}", commit, detail=f"{mode} credentials")
    pr = state["pr"]
    if pr is None:

        def open_pr() -> int:
            created = _open_pull(session, repo, branch)
            state["pr"] = created
            session.out.info(f"PR #{created.number}: {created.html_url}")
            return created.number

        plan.add("open", f"PR {branch} -> {base}", open_pr)
    else:
        plan.keep(f"PR #{pr.number} {branch} -> {base} is open: {pr.html_url}")
    if not merge:
        plan.note("merge it once its checks pass: `invoke ci.auth --merge`")
        plan.waiting = f"merge of the {mode} workflows PR"
        return

    def checked_merge() -> str:
        from ...github_util import merge_pull

        the_pr = state["pr"]
        sha = state.get("head") or the_pr.head.sha
        _proof(session, repo, the_pr, sha, proving)
        return merge_pull(
            session, the_pr, sha=sha, method=s.merge_method, what=f"PR #{the_pr.number}", page=PAGE
        )

    target = f"PR #{pr.number} {branch} -> {base}" if pr is not None else f"PR {branch} -> {base}"
    plan.add("merge", target, checked_merge, detail=f"{s.merge_method}, once its checks pass")


def _open_pull(session: Session, repo: Any, branch: str) -> Any:
    from ...github_util import find_pull
    from ...lost import confirm

    s = session.settings.github
    mode = session.settings.ci.auth_mode
    body = (
        f"Points the GitHub Actions workflows at `ci.auth_mode: {mode}` (runbook ci.md#auth). "
        "The checks of this pull request are the proof that the new credentials work: "
        "mlops-setup merges it only when they pass, and only then retires the old credentials. "
        "Opened by mlops-setup."
    )
    return confirm(
        lambda: repo.create_pull(
            base=s.default_branch, head=branch, title=f"CI: authenticate with {mode}", body=body
        ),
        lambda: find_pull(repo, base=s.default_branch, head=branch),
        f"opening the pull request {branch} -> {s.default_branch}",
        fix="run `invoke ci.auth` again: it looks for the PR first",
        page=PAGE,
        note=session.out.note,
    )


def _proof(session: Session, repo: Any, pr: Any, sha: str, proving: set[str]) -> None:
    """The PR's checks passed, among them a job that signs in to Databricks with the new
    credentials (one of ``proving``, by its check run's name; a matrix job's runs are named
    ``job (values)``): the new credentials work. Otherwise stop, nothing merged or retired."""
    from ...github_util import check_summary, checks_error, failing_checks, wait_for_checks

    mode = session.settings.ci.auth_mode
    what = f"checks on PR #{pr.number} ({sha[:7]})"
    runs = wait_for_checks(session, repo, sha, what=what)
    if not runs:
        raise SetupError(
            f"no check ran on PR #{pr.number}, so nothing has shown that the {mode} "
            f"credentials work; nothing was merged or retired: {pr.html_url}",
            fix="start its workflows (Actions tab; the run-tests workflow runs on a change to "
            "its own file) or merge it yourself once a run passed, then run `invoke ci.auth "
            "--merge` again: it retires the old credentials",
            page=PAGE,
        )
    if failing_checks(runs):
        error = checks_error(runs, what, page=PAGE)
        raise SetupError(
            f"{error.message}\n  the {mode} credentials did not work; nothing was merged or "
            f"retired, the workflows on {session.settings.github.default_branch} keep their "
            f"credentials: {pr.html_url}",
            fix=f"see the failing runs (is `invoke ci.secrets` done for {mode}?), push a fix to "
            "the PR's branch, then run `invoke ci.auth --merge` again",
            page=PAGE,
        )

    def signs_in(name: str) -> bool:
        return any(name == job or name.startswith(f"{job} (") for job in proving)

    if not any(r.status == "completed" and signs_in(r.name) for r in runs):
        ran = ", ".join(sorted({r.name for r in runs}))
        raise SetupError(
            f"the checks on PR #{pr.number} ({ran}) include no job that signs in to Databricks "
            f"({', '.join(sorted(proving)) or 'none in the changed workflows'}), so nothing has "
            f"shown that the {mode} credentials work; nothing was merged or retired: "
            f"{pr.html_url}",
            fix="run one of those jobs on the PR's branch (Actions tab), then run `invoke "
            "ci.auth --merge` again; or merge it yourself once such a run passed",
            page=PAGE,
        )
    session.out.wait_over(what, check_summary(runs))


# ------------------------------------------------------------------------------- retiring


def plan_retire(
    session: Session, plan: Plan, repo: Any, after: dict[str, str], existing: set[str]
) -> None:
    """Retire the credentials of the modes the workflows no longer read.

    What is "read" is the workflows on the default branch once our PR is merged (``after``) and
    the workflows on the release branch as they are: the prod CD (and any workflow dispatched
    there) runs the release branch's copy, so the old mode's credentials stay until the release
    branch has the new workflows (``invoke release --update``). This is planned from the live
    systems, so a run that stopped between the merge and the revoke finishes it the next time.
    """
    from ...workflow_auth import read_auth, secrets_read, vars_read

    settings = session.settings
    s = settings.github
    texts = list(after.values())
    release_ref = _branch_exists(repo, s.release_branch)
    if release_ref is not None:
        on_release = _read_branch(repo, s.release_branch, workflow_paths(session))
        texts += [_text(c) for c in on_release.values()]
    read_secrets = set().union(*(secrets_read(t) for t in texts)) if texts else set()
    read_vars = set().union(*(vars_read(t) for t in texts)) if texts else set()
    in_use: set[tuple[str, str]] = set()
    for text in texts:
        try:
            in_use |= {(a.env, a.mode) for a in read_auth(text) if a.env and a.mode}
        except ValueError:
            continue
    current = settings.ci.auth_mode
    for env in ENVIRONMENTS:
        held = [m for (e, m) in in_use if e == env and m != current]
        if held:
            plan.note(
                f"{env}: a workflow (on {s.release_branch}, or a job left as it was) still "
                f"reads {', '.join(sorted(held))} credentials: they stay until none does"
            )
        for mode in ("token", "oauth", "oidc"):
            if mode == current or (env, mode) in in_use:
                continue
            _retire(session, plan, repo, env, mode, existing, read_secrets, read_vars)


def _old_secret_names(session: Session, env: str, mode: str) -> list[str]:
    e = env.upper()
    if mode == "oauth":
        return [f"{e}_DATABRICKS_CLIENT_ID", f"{e}_DATABRICKS_CLIENT_SECRET"]
    if mode == "token" and session.settings.databricks.cloud == "azure":
        return [f"{e}_AZURE_SP_{k}" for k in ("TENANT_ID", "APPLICATION_ID", "CLIENT_SECRET")]
    if mode == "token":
        return [f"{e}_WORKSPACE_TOKEN"]
    return []


def _retire(
    session: Session,
    plan: Plan,
    repo: Any,
    env: str,
    mode: str,
    existing: set[str],
    read_secrets: set[str],
    read_vars: set[str],
) -> None:
    """Plan the revoke of ``env``'s ``mode`` credentials of ours, then the GitHub side."""
    from ... import federation

    names = [n for n in _old_secret_names(session, env, mode) if n in existing]
    if any(n in read_secrets for n in names):
        return  # some workflow still reads it (a job we left alone): keep everything
    if mode == "token":
        from .secrets import Ledger

        ledger = Ledger(session)
        if names or ledger.stored(env) or ledger.in_flight(env):  # else none of ours to look for
            _retire_tokens(session, plan, env)
    elif mode == "oauth":
        _retire_oauth(session, plan, env)
    else:
        from .secrets import service_principal

        var = federation.CLIENT_ID_VARIABLES[env]
        if var not in federation.live_variables(repo):
            return  # the variable goes last: without it, no policy of ours is left
        sp = service_principal(session, env)
        if any(
            p.policy_id == federation.policy_id(env)
            for p in federation.github_policies(session, sp)
        ):
            plan.add(
                "delete",
                f"federation policy {federation.policy_id(env)} of SP {sp.display_name}",
                lambda: federation.delete_policies(session, env, sp),
                detail=f"no workflow authenticates {env} with oidc any more",
            )
        if var not in read_vars:
            plan.add(
                "delete",
                f"variable {var}",
                lambda v=var: repo.delete_variable(v),
                detail="no workflow reads it",
            )
    for name in names:
        plan.add(
            "delete",
            f"secret {name}",
            lambda n=name: _delete_secret(repo, n),
            detail=f"{mode} credential no workflow reads",
        )


def _delete_secret(repo: Any, name: str) -> None:
    import contextlib

    from github import UnknownObjectException

    with contextlib.suppress(UnknownObjectException):
        repo.delete_secret(name)


def _retire_tokens(session: Session, plan: Plan, env: str) -> None:
    """Workspace tokens (aws/gcp) or Entra client secrets (azure) of ours, revoked."""
    from .credentials import plan_retire_all
    from .secrets import Ledger, service_principal

    ledger = Ledger(session)
    now = session.now()
    if session.settings.databricks.cloud == "azure":
        from . import azure
        from .secrets_azure import KIND, _ours, _remover

        app = azure.entra_app(session, env)
        if app is None:
            return
        owner, ours, retirer = f"app {app.display_name}", _ours(session, app, env), _remover
    else:
        from .secrets import KIND, _revoker, _tokens_of_ours

        sp = service_principal(session, env)
        owner, ours, retirer = f"SP {sp.display_name}", _tokens_of_ours(session, env, sp), _revoker
    plan_retire_all(
        plan,
        KIND,
        owner,
        [t for t in ours if t.live(now)],
        lambda cred_id: retirer(session, ledger, env, cred_id),
        "token mode retired",
    )


def _retire_oauth(session: Session, plan: Plan, env: str) -> None:
    """The OAuth secrets this tool stored (the journal knows them), deleted."""
    from .credentials import plan_retire_all
    from .oauth import KIND, OAuthLedger, _deleter, _live_secrets
    from .secrets import service_principal

    ledger = OAuthLedger(session)
    ours = set(ledger.in_flight(env)) | {(ledger.stored(env) or {}).get("token_id", "")}
    if not any(ours):
        return
    sp = service_principal(session, env)
    plan_retire_all(
        plan,
        KIND,
        f"SP {sp.display_name}",
        [s for s in _live_secrets(session, sp) if s.secret_id in ours],
        lambda secret_id: _deleter(session, ledger, env, sp, secret_id),
        "oauth mode retired",
    )


STEP = Step("ci.auth", "the workflows authenticate with ci.auth_mode", plan_auth)
STEPS = (STEP,)


@task(name="auth", help={"dry_run": DRY_RUN_HELP, "merge": MERGE_HELP})
def auth(c, dry_run=False, merge=False):
    """Point the workflows at ci.auth_mode in a PR; retire the old credentials."""
    run_step(c, STEP, dry_run=dry_run, merge=merge)
