"""ci.prerequisites: the guide's "Prerequisites" for CI/CD, checked, never changed.

The operator must be:

* workspace admin (member of ``admins``) in the staging and the prod workspace, read from each
  workspace's SCIM ``Me`` (the same request also gives the workspace id later steps need);
* account admin (role ``account_admin``), read from the account's SCIM users; only in
  ``databricks.sp_mode: account``, where the service principals are made in the account;
* on Azure (``databricks.cloud: azure``), allowed to register Entra ID applications: the
  tenant lets every user do so (authorization policy), or the login holds one of the directory
  roles that may (``entra.APP_ROLES``, Application Developer first). Not needed when every
  environment links an existing app. An application login (no user) is not checked: it needs
  the Graph permission ``Application.ReadWrite.OwnedBy``, which Graph cannot tell it has.

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
    if db.cloud == "azure":
        _check_entra_right(session, passed, missing)
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


def _check_entra_right(session: Session, passed: list[str], missing: list[Missing]) -> None:
    from ...entra import APP_ROLES, ENTRA_RIGHT, GraphError

    if all(session.settings.sp_linked(env) for env in ENVIRONMENTS):
        passed.append("Entra ID app registration not needed (every environment links its app)")
        return
    check = "Entra ID app registration (Microsoft Graph)"
    try:
        graph = session.clients.graph
        try:
            if graph.users_may_register_apps():
                passed.append("Entra ID app registration: the tenant lets users register apps")
                return
        except GraphError as exc:
            if exc.status != 403:  # 403: may not read the policy; the roles still tell
                raise
        try:
            roles = graph.my_directory_roles()
        except GraphError as exc:
            if exc.status != 400:
                raise
            passed.append(
                "Entra ID: signed in as an application, which needs the Graph permission "
                "Application.ReadWrite.OwnedBy (Graph cannot tell; not checked)"
            )
            return
    except GraphError as exc:
        missing.append(Missing(check, f"Microsoft Graph answered {exc}", _entra_fix(exc)))
        return
    except Exception as exc:  # azure-identity: no login in its chain, or an expired one
        if type(exc).__name__ not in ("ClientAuthenticationError", "CredentialUnavailableError"):
            raise
        missing.append(
            Missing(
                check,
                "no usable Azure login (az login, AZURE_* variables, managed identity)",
                "run `az login` (or set AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET)",
            )
        )
        return
    held = [role for role in APP_ROLES if role in roles]
    if held:
        passed.append(f"Entra ID role {held[0]} (may register applications)")
        return
    missing.append(
        Missing(
            check,
            "the tenant does not let users register applications, and your login holds none "
            f"of the roles that may ({', '.join(APP_ROLES)})",
            f"ask a Privileged Role Administrator of the tenant for {ENTRA_RIGHT}, or link "
            "existing apps (databricks.service_principals.<env>: {application_id: ...})",
        )
    )


def _entra_fix(exc: object) -> str:
    if getattr(exc, "status", 0) == 401:
        return "log in again (`az login`, or AZURE_* variables), then run again"
    return "run again; https://status.cloud.microsoft shows outages"


STEP = Step("ci.prerequisites", "your rights in the account and the workspaces", plan_prerequisites)
STEPS = (STEP,)


@task(name="prerequisites", help={"dry_run": DRY_RUN_HELP + " (This step only reads.)"})
def prerequisites(c, dry_run=False):
    """Check you are account admin and workspace admin in staging and prod (Azure: Entra ID)."""
    run_step(c, STEP, dry_run=dry_run)
