"""ci.prerequisites: the guide's "Prerequisites" for CI/CD, checked, never changed.

The operator must be:

* workspace admin (member of ``admins``) in the staging and the prod workspace, read from each
  workspace's SCIM ``Me`` (the same request also gives the workspace id later steps need);
* account admin (role ``account_admin``), read from the account's SCIM users; only in
  ``databricks.sp_mode: account``, where the service principals are made in the account.

Every missing right is named (which check, which host, whom to ask for what) and the step exits
non-zero; a login that fails (expired, wrong host, missing profile) is named the same way, so one
run lists everything to fix. ``setup.all`` runs this first.
"""

from __future__ import annotations

from dataclasses import dataclass

from invoke import task

from ... import ENVIRONMENTS
from ...changes import Plan, SetupError
from ...databricks_util import (
    ACCOUNT_ADMIN_ROLE,
    PAGE_PREREQUISITES,
    ApiErrors,
    DetailedError,
    account_not_found,
    login_rejected,
    scim_list,
    scim_quote,
    workspace_me,
)
from ...session import DRY_RUN_HELP, Session, Step, run_step

PAGE = PAGE_PREREQUISITES


@dataclass
class Missing:
    check: str
    problem: str
    fix: str

    def lines(self) -> list[str]:
        fix = [f"    fix: {self.fix}"] if self.fix else []
        return [f"  - {self.check}: {self.problem}", *fix]


def plan_prerequisites(session: Session, dry_run: bool = False) -> Plan:
    """Read-only: the plan keeps what holds; a missing right stops the run (exit 1)."""
    db = session.settings.databricks
    plan = Plan("ci.prerequisites")
    passed: list[str] = []
    missing: list[Missing] = []
    user = ""
    for env in ENVIRONMENTS:
        host = db.workspace(env).host
        try:
            me = workspace_me(session, env)
        except SetupError as exc:
            missing.append(Missing(f"workspace {env} ({host})", exc.message, exc.fix))
            continue
        user = user or me.user_name
        if me.is_admin:
            passed.append(f"workspace admin in {env} ({host}) as {me.user_name}")
        else:
            missing.append(
                Missing(
                    f"workspace admin in {env} ({host})",
                    f"{me.user_name} is not in the admins group",
                    f"ask a workspace admin of {env} to add {me.user_name} to `admins`",
                )
            )
    if db.sp_mode == "workspace":
        passed.append("account admin not needed (databricks.sp_mode: workspace)")
    elif user:  # without any working workspace login there is no user name to look up yet
        _check_account_admin(session, user, passed, missing)
    if missing:
        for line in passed:
            session.out.kept(line)
        count = f"{len(missing)} prerequisite{'s' if len(missing) > 1 else ''}"
        raise DetailedError(
            f"{count} missing; nothing was changed",
            [line for item in missing for line in item.lines()],
            fix="get what is listed above, then run `invoke ci.prerequisites` again",
            page=PAGE,
        )
    for line in passed:
        plan.keep(line)
    return plan


def _check_account_admin(
    session: Session, user: str, passed: list[str], missing: list[Missing]
) -> None:
    from databricks.sdk.errors import PermissionDenied
    from databricks.sdk.service import iam

    acct = session.settings.databricks.account
    check = f"account admin ({acct.host})"
    ask = (
        f"ask an account admin to give {user} the Account admin role, or set "
        "databricks.sp_mode: workspace"
    )
    try:
        client = session.clients.account
        with ApiErrors(
            session,
            "account",
            "reading account users",
            page=PAGE,
            not_found=account_not_found(session),
        ):
            try:
                found = scim_list(
                    client,
                    f"/api/2.0/accounts/{acct.id}/scim/v2/Users",
                    filter=f"userName eq {scim_quote(user)}",
                    attributes="userName,roles",
                )
            except PermissionDenied as exc:
                if login_rejected(exc):
                    raise  # a bad login, not a missing right: ApiErrors explains it
                found = None
    except SetupError as exc:  # login or connection
        missing.append(Missing(check, exc.message, exc.fix))
        return
    if found is None:
        missing.append(Missing(check, "the account login may not read account users (403)", ask))
        return
    roles = {r.value for u in map(iam.User.from_dict, found) for r in u.roles or []}
    if ACCOUNT_ADMIN_ROLE in roles:
        passed.append(f"account admin in account {acct.id} as {user}")
    else:
        missing.append(Missing(check, f"{user} has no account admin role", ask))


STEP = Step("ci.prerequisites", "your rights in the account and the workspaces", plan_prerequisites)
STEPS = (STEP,)


@task(name="prerequisites", help={"dry_run": DRY_RUN_HELP + " (This step only reads.)"})
def prerequisites(c, dry_run=False):
    """Check you are account admin and workspace admin in staging and prod."""
    run_step(c, STEP, dry_run=dry_run)
