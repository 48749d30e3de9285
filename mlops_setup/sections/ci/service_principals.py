"""ci.service-principals: the guide's "Set up Service Principal".

One service principal per environment (staging, prod), named by
``databricks.service_principals``, found by that display name:

* ``databricks.sp_mode: account`` (the guide's way; needs account admin): created in the account
  if missing, then assigned to its environment's workspace with USER permission (an existing
  assignment, USER or ADMIN, is left as it is). After an assignment this step waits, with bounded
  backoff (``databricks.sp_visible_timeout``), until the workspace lists the SP, because a
  just-created principal is invisible there for a while and later steps use it there.
* ``databricks.sp_mode: workspace`` (for an operator without account access): created directly
  in its environment's workspace (needs workspace admin); no assignment needed.

A create that failed in a way it may have been carried out all the same (a 504 or 500, or the
SDK's retries running out) is followed by a lookup by name: found, that SP is used; not found,
the step stops saying so, and a re-run looks it up first. Never a second SP with the name.

Linking an existing SP (any cloud): ``databricks.service_principals.<env>: {application_id:
<UUID>}`` names an SP someone else made (the Terraform "link" variant). It is looked up by
application id where this step would have created it, must exist and be active (an error names
who can fix it otherwise), and is never created, renamed, activated or removed: the journal
records it as ``linked``. It is still assigned to its workspace if it is not there yet (the
guide needs it there), and the later steps grant and mint for it as for one of ours.

On Azure (``databricks.cloud: azure``) each environment first gets an Entra ID application
and its service principal in the tenant (:mod:`.azure`), and the Databricks SP is created with
``applicationId`` = that app's client id, so the principal CI logs in as is the one that gets
the grants.

Two SPs with the configured name are an error listing both. Application ids are not secret:
they are printed, and later steps (``ci.permissions``, ``ci.secrets``) get them through
:func:`mlops_setup.databricks_util.find_service_principal`.
"""

from __future__ import annotations

from typing import Any

from invoke import task

from ... import ENVIRONMENTS
from ...backoff import WaitTimeout
from ...changes import Plan, SetupError
from ...databricks_util import (
    PAGE_SERVICE_PRINCIPALS,
    WORKSPACE_SPS,
    ApiErrors,
    ServicePrincipalInfo,
    find_service_principal,
    remember_service_principal,
    scim_list,
    scim_quote,
    sp_denied_fix,
    workspace_id,
)
from ...session import DRY_RUN_HELP, Session, Step, run_step
from . import azure

PAGE = PAGE_SERVICE_PRINCIPALS
JOURNAL_KEY = "ci.service-principals"
ASSIGNED_AS = "USER"


def plan_service_principals(session: Session, dry_run: bool = False) -> Plan:
    db = session.settings.databricks
    plan = Plan("ci.service-principals")
    linked: dict[str, str] = {}
    on_azure = azure.is_azure(session)
    for env in ENVIRONMENTS:
        name = session.settings.sp_name(env)
        if on_azure:  # the Entra ID app first: the Databricks SP takes its client id
            azure.plan_app(session, plan, env)
        sp = find_service_principal(session, env)
        if on_azure:
            azure.check_databricks_sp(session, env, sp)
        if sp is not None and sp.linked:
            name = sp.display_name
            linked[env] = sp.application_id
            plan.keep(
                f"SP {name} is linked (application id {sp.application_id}): checked, not "
                "created or changed"
            )
        elif sp is None:
            where = "in the account" if db.sp_mode == "account" else f"in workspace {env}"
            plan.add("create", f"SP {name}", _creator(session, plan, env), detail=where)
        else:
            plan.keep(f"SP {name} exists (application id {sp.application_id})")
        if db.sp_mode == "account":
            _plan_assignment(session, plan, env, name, sp)
    if not dry_run:
        record_linked(session, linked)
    return plan


def record_linked(session: Session, linked: dict[str, str]) -> None:
    """Journal which SPs are linked (env -> application id), so that whatever cleans up later
    knows they belong to someone else; written only when it changes."""
    entry = session.journal.get(JOURNAL_KEY) or {}
    if (entry.get("linked") or {}) == linked:
        return
    session.journal.set(JOURNAL_KEY, {**entry, "linked": linked})


# ------------------------------------------------------------------------------- creation


def _creator(session: Session, plan: Plan, env: str) -> Any:
    def create() -> str:
        name = session.settings.sp_name(env)
        in_account = session.settings.databricks.sp_mode == "account"
        scope = "account" if in_account else env
        api = session.clients.account if in_account else session.clients.workspace(env)
        with ApiErrors(
            session,
            scope,
            f"creating SP {name}",
            denied_fix=sp_denied_fix(session, env),
            page=PAGE,
        ):
            try:
                extra = {}
                if azure.is_azure(session):  # Entra ID managed: the app's client id
                    extra["application_id"] = azure.app_id(session, env)
                made = api.service_principals.create(display_name=name, active=True, **extra)
            except Exception as exc:
                if not _may_have_been_made(exc):
                    raise
                info = _made_after_all(session, env, name, exc)
                plan.note(
                    f"SP {name}: the create failed with {_error_name(exc)}, but the SP was made: "
                    f"using it (application id {info.application_id})"
                )
                return info.application_id
        info = ServicePrincipalInfo(
            env, name, str(made.id), str(made.application_id), scope, created=True
        )
        remember_service_principal(session, info)
        record_made(session, info)
        plan.note(f"SP {name}: application id {info.application_id}")
        return info.application_id

    return create


def _may_have_been_made(exc: BaseException) -> bool:
    """A create that failed this way may have been carried out all the same: a gateway timeout
    or server error after the request arrived, or the SDK's retries (of 429, 503, timeouts and
    connection errors) running out."""
    from databricks.sdk.errors import DeadlineExceeded, InternalError, TemporarilyUnavailable

    return isinstance(exc, DeadlineExceeded | InternalError | TemporarilyUnavailable | TimeoutError)


def _error_name(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "a timeout (the SDK's retries ran out)"
    kinds = {"DeadlineExceeded": 504, "InternalError": 500, "TemporarilyUnavailable": 503}
    return f"{kinds.get(type(exc).__name__, '5xx')} ({type(exc).__name__})"


def _made_after_all(session: Session, env: str, name: str, exc: BaseException) -> Any:
    """After a create that may have gone through, look the SP up by name again (never create a
    second one): found, it is ours; not found, the error says a re-run looks again first."""
    session.cache.pop(f"databricks.sp.{env}", None)  # the plan's "not there" is stale now
    found = find_service_principal(session, env)
    if found is None:
        raise SetupError(
            f"creating SP {name} failed with {_error_name(exc)} and the SP is not listed (yet); "
            "the create may still have been carried out",
            fix="run `invoke ci.service-principals` again: it looks the SP up by name first and "
            "creates no second one",
            page=PAGE,
        ) from None
    info = ServicePrincipalInfo(
        env, found.display_name, found.id, found.application_id, found.scope, created=True
    )
    remember_service_principal(session, info)
    record_made(session, info)
    return info


def record_made(session: Session, info: ServicePrincipalInfo) -> None:
    """Journal an SP this step created (``setup.destroy`` deletes only SPs recorded so)."""
    session.journal.made(
        "service_principal",
        f"{info.scope}:{info.id}",
        env=info.env,
        scope=info.scope,
        sp_id=info.id,
        application_id=info.application_id,
        display_name=info.display_name,
    )


# ----------------------------------------------------------------------------- assignment


def _assignments(session: Session, ws_id: int) -> dict[int, list[str]]:
    """principal id -> permissions in the workspace (cached per workspace)."""

    def load() -> dict[int, list[str]]:
        with ApiErrors(
            session,
            "account",
            f"listing the assignments of workspace {ws_id}",
            denied_fix=sp_denied_fix(session, "staging"),
            page=PAGE,
        ):
            found = session.clients.account.workspace_assignment.list(workspace_id=ws_id)
        return {
            int(a.principal.principal_id): [p.value for p in a.permissions or []]
            for a in found
            if a.principal is not None and a.principal.principal_id is not None
        }

    return session.cached(f"databricks.assignments.{ws_id}", load)


def _plan_assignment(
    session: Session, plan: Plan, env: str, name: str, sp: ServicePrincipalInfo | None
) -> None:
    ws_id = workspace_id(session, env)
    if sp is not None:
        permissions = _assignments(session, ws_id).get(int(sp.id))
        if permissions:
            plan.keep(f"SP {name} is in workspace {env} ({', '.join(permissions)})")
            return

    def assign() -> None:
        from databricks.sdk.service import iam

        from ...lost import confirm

        info = find_service_principal(session, env)
        assert info is not None  # created by the change before this one

        def assigned() -> bool | None:  # read afresh
            session.cache.pop(f"databricks.assignments.{ws_id}", None)
            return True if _assignments(session, ws_id).get(int(info.id)) else None

        with ApiErrors(
            session,
            "account",
            f"assigning SP {name} to workspace {env}",
            denied_fix=sp_denied_fix(session, env),
            page=PAGE,
        ):
            confirm(
                lambda: session.clients.account.workspace_assignment.update(
                    workspace_id=ws_id,
                    principal_id=int(info.id),
                    permissions=[iam.WorkspacePermission(ASSIGNED_AS)],
                ),
                assigned,
                f"assigning SP {name} to workspace {env}",
                fix="run `invoke ci.service-principals` again: it reads the assignments first",
                page=PAGE,
                note=session.out.note,
            )
        session.journal.made(  # setup.destroy removes only assignments recorded so
            "workspace_assignment",
            f"{ws_id}:{info.id}",
            env=env,
            workspace_id=ws_id,
            principal_id=info.id,
            display_name=name,
        )
        known = session.cache.get(f"databricks.assignments.{ws_id}")
        if known is not None:
            known[int(info.id)] = [ASSIGNED_AS]
        wait_until_visible(session, info)

    plan.add("assign", f"SP {name} to workspace {env}", assign, detail=ASSIGNED_AS)


# ---------------------------------------------------------------------------------- waiting


def wait_until_visible(session: Session, info: ServicePrincipalInfo) -> None:
    """Poll ``info.env``'s workspace until it lists the SP; bounded by sp_visible_timeout."""
    env, name = info.env, info.display_name
    w = session.clients.workspace(env)
    query = f"applicationId eq {scim_quote(info.application_id)}"

    def visible() -> bool | None:
        with ApiErrors(session, env, f"looking for SP {name}", page=PAGE):
            found = scim_list(w, WORKSPACE_SPS, filter=query, attributes="id,applicationId")
        return True if found else None

    def waiting(attempt: int, delay: float) -> None:
        session.out.wait(f"SP {name} in workspace {env}", "not there yet", next_in=delay)

    timeout = session.settings.databricks.sp_visible_timeout
    try:
        session.backoff(timeout=timeout, first=1).until(
            visible, f"SP {name} in workspace {env}", on_wait=waiting
        )
    except WaitTimeout as exc:
        done = "created in the account and " if info.created else ""
        raise SetupError(
            f"SP {name} (application id {info.application_id}) is still not visible in "
            f"workspace {env} after {exc.waited:.0f}s; it was {done}assigned to it ({ASSIGNED_AS})",
            fix="wait a few minutes, then run `invoke ci.service-principals` again (it finds "
            "the SP and goes on), or raise databricks.sp_visible_timeout",
            page=PAGE,
        ) from None


# ------------------------------------------------------------------------------------ tasks

STEP = Step("ci.service-principals", "a service principal per environment", plan_service_principals)
STEPS = (STEP,)


@task(name="service-principals", help={"dry_run": DRY_RUN_HELP})
def service_principals(c, dry_run=False):
    """Create the staging and prod SPs and add them to their workspaces."""
    run_step(c, STEP, dry_run=dry_run)
