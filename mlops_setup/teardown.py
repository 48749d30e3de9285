"""``setup.destroy``: undo the setup, but only what mlops-setup made.

What the setup made is known from the journal (``Journal.made`` records, written by the build
steps at the moment they create something: the repo, each SP, each workspace assignment, each
grant's privileges, each GitHub secret) and from the tool's own markers (the comment of the
tokens it mints, ``mlops-setup CI token for <repo> (<env>)``, on tokens owned by the
environment's SP). Nothing else is touched: a secret, token, grant, SP or assignment someone
else made stays, even when it looks the same as one of ours (a grant is revoked only for the
privileges the journal says this tool added, and only from its principal).

The steps run in the reverse of the guide's order, each named after the guide step it undoes:

1. ``ci.workflow-permissions``: the repo's workflow permissions go back to the values recorded
   before the setup changed them (what ``ci.workflow-permissions --revert`` does);
2. ``ci.secrets``: the GitHub Actions secrets we wrote are deleted, and (``ci.auth_mode:
   oidc``) the Actions variables and GitHub environments we created; then the Databricks
   credentials: the OAuth secrets the journal knows we made (``oauth``; they carry no comment,
   so no other is touched), the federation policies we created (``oidc``), and every token of
   ours (``token``: by its comment, on the SP);
3. ``ci.permissions``: the privileges we granted are revoked (``PATCH .../permissions`` with
   ``remove``, for our principal only); catalogs and schemas the setup created stay, because
   they may hold the project's data (a note names them);
4. ``ci.service-principals``: the workspace assignments we made are removed, then the SPs we
   created are deleted; a linked SP (``ci.service-principals`` journals ``linked``) never is;
5. ``repo.create``: the GitHub repo stays (with its branches, merged pull requests, the
   hand-over issue and the ML code) unless ``--delete-repo`` is given and the repo's full name
   is typed back at the prompt, or ``--yes-delete-repo=<owner/repo>`` names it (for scripts);
   a wrong name exits 2 before anything is done. Only a repo the journal says we created is
   deleted.

The guarantees are the build's: the dry run (``setup.destroy --dry-run``, also
``setup.plan --destroy``) prints exactly the lines an apply prints; every delete goes through
:func:`mlops_setup.lost.confirm`, so a delete whose answer was lost is read back (gone: done;
still there: an error that says a re-run looks first); each record leaves the journal once its
object is gone, so a run that stops says what it undid and a re-run resumes where it stopped;
a finished destroy re-run sends no mutating request.

On Azure (``databricks.cloud: azure``) the principal CI logs in as is an Entra ID app, so
``ci.secrets`` also removes the app's client secrets of ours (by their display name,
``mlops-setup CI secret for <repo> (<env>)``: a linked app's other secrets stay), and
``ci.service-principals`` ends by deleting the Entra apps the journal says it created
(``entra_app`` records; never a linked app). Deleting an app deletes its service principal in
the tenant; Entra keeps a deleted app restorable for 30 days (Microsoft Graph v1.0 reference,
"Delete application"; ``DELETE /applications/{id}``, 204; ``POST /applications/{id}/
removePassword``, 204).

API shapes (databricks-sdk 0.162 ``service/iam.py``, ``service/catalog.py``; PyGithub 2.10
``Repository.py``): ``DELETE /api/2.0/accounts/{account}/workspaces/{ws}/permissionassignments/
principals/{id}`` (answers ``{}``), ``DELETE .../scim/v2/ServicePrincipals/{id}`` (204),
``DELETE /api/2.0/token-management/tokens/{id}``, ``PATCH /api/2.1/unity-catalog/permissions/
{type}/{name}`` with ``changes: [{principal, remove}]``, ``DELETE /repos/{o}/{r}/actions/secrets/
{name}`` (204), ``PUT /repos/{o}/{r}/actions/permissions/workflow``, ``DELETE /repos/{o}/{r}``
(204; the token needs the ``delete_repo`` scope), ``DELETE /repos/{o}/{r}/actions/variables/
{name}`` and ``.../environments/{name}`` (204), ``DELETE /api/2.0/accounts/{account}/
servicePrincipals/{id}/federationPolicies/{policy}`` and ``.../credentials/secrets/{id}``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke import task

from . import ENVIRONMENTS
from .changes import Plan, SetupError, Tally
from .session import DRY_RUN_HELP, Session, Step

PAGE = "teardown.md"
TASK = "setup.destroy"
KEPT = "its branches, merged pull requests, the hand-over issue and the ML code"
DELETE_REPO_HELP = (
    "Also delete the GitHub repo (only one mlops-setup created): you type its full name back."
)
YES_DELETE_REPO_HELP = (
    "Delete the GitHub repo without a prompt, for scripts: give its full name (owner/repo); "
    "a different name exits 2 and nothing is done."
)


def ask(prompt: str) -> str:
    """The operator's answer to ``prompt`` (tests replace this); "" when there is no terminal."""
    try:
        return input(prompt)
    except EOFError:
        return ""


# ------------------------------------------------------------------------------- helpers


def _forget(session: Session, dry_run: bool, kind: str, ident: str) -> None:
    """Forget a record whose object is gone already (never in a dry run: it changes nothing)."""
    if not dry_run:
        session.journal.unmade(kind, ident)


_AGAIN = f"run `invoke {TASK}` again: it reads what is left first"


def _deleted(
    session: Session,
    write: Callable[[], Any],
    gone: Callable[[], bool],
    what: str,
    *,
    not_found: tuple[type[BaseException], ...] = (),
) -> None:
    """Run the delete ``write``; a lost answer is read back with ``gone`` (True once the object
    is gone); a "not found" answer means someone removed it already: done all the same."""
    from .lost import confirm

    with contextlib.suppress(*not_found):
        confirm(
            write,
            lambda: True if gone() else None,
            what,
            fix=_AGAIN,
            page=PAGE,
            note=_undo_note(session),
        )


def _undo_note(session: Session) -> Callable[[str], None]:
    """How a read-back is told during a destroy: what was undone (no ": kept": nothing is)."""
    return lambda text: session.out.note(text.removesuffix(": kept"))


def _voice(session: Session) -> Any:
    """How ci.secrets' credential retirements speak during a destroy."""
    from .sections.ci.credentials import Voice

    return Voice(PAGE, _AGAIN, _undo_note(session))


def _github_delete(
    session: Session, repo: Any, url: str, gone: Callable[[], bool], what: str, *, fix: str
) -> None:
    """``DELETE url`` on GitHub through :func:`_deleted`; a refusal (401, 403) explained."""
    from github import GithubException, UnknownObjectException

    try:
        _deleted(
            session,
            lambda: repo._requester.requestJsonAndCheck("DELETE", url),
            gone,
            f"deleting {what}",
            not_found=(UnknownObjectException,),
        )
    except GithubException as exc:
        if exc.status in (401, 403):
            raise SetupError(
                f"GitHub refused to delete {what} ({exc.status})", fix=fix, page=PAGE
            ) from None
        raise


def _github_repo(session: Session) -> Any:
    from .sections.repo import _github_repo

    return _github_repo(session)


# -------------------------------------------------------------------- ci.workflow-permissions


def plan_workflow_permissions(session: Session, dry_run: bool = False) -> Plan:
    from .sections.ci import workflow_permissions as wp

    plan = Plan("ci.workflow-permissions")
    full = session.settings.github.full_name
    recorded = session.journal.get(wp.JOURNAL_KEY) or {}
    if str(recorded.get("repo") or "").lower() != full.lower() or not recorded.get("prior"):
        plan.keep(f"workflow permissions of {full}: nothing recorded to put back")
        return plan
    repo = _github_repo(session)
    if repo is None:
        plan.keep(f"GitHub repo {full} does not exist: no workflow permissions to put back")
        if not dry_run:
            session.journal.pop(wp.JOURNAL_KEY)
        return plan
    current = wp.read_permissions(session, repo)
    return wp._plan_revert(session, plan, repo, current, recorded, dry_run)


# ---------------------------------------------------------------------------------- ci.secrets


def _our_secret_names(session: Session) -> list[tuple[str, str]]:
    """(journal id, secret name) of the GitHub secrets this tool wrote to the repo, in the order
    they were written; older journals name only the token secrets (the ``ci.secrets`` ledger)."""
    from .sections.ci.secrets import SECRET_NAMES, Ledger

    full = session.settings.github.full_name
    found = [
        (r["id"], r.get("name", ""))
        for r in session.journal.made_records("github_secret")
        if str(r.get("repo") or "").lower() == full.lower() and r.get("name")
    ]
    names = {name for _, name in found}
    ledger = Ledger(session)
    azure = session.settings.databricks.cloud == "azure"
    for env in ENVIRONMENTS:
        name = f"{env.upper()}_AZURE_SP_CLIENT_SECRET" if azure else SECRET_NAMES[env]
        if ledger.stored(env) and name not in names:
            found.append((f"{full}:{name}", name))
    return found


def plan_secrets(session: Session, dry_run: bool = False) -> Plan:
    from .databricks_util import find_service_principal
    from .sections.ci.credentials import plan_retire_all
    from .sections.ci.secrets import KIND, _tokens_of_ours

    plan = Plan("ci.secrets")
    ours = _our_secret_names(session)
    repo = _github_repo(session)
    if repo is None:
        plan.keep(f"GitHub repo {session.settings.github.full_name} does not exist: no secrets")
        for ident, _ in ours:
            _forget(session, dry_run, "github_secret", ident)
    else:
        existing = {s.name for s in repo.get_secrets()}
        for ident, name in reversed(ours):
            if name in existing:
                plan.add(
                    "delete",
                    f"secret {name}",
                    _secret_deleter(session, repo, ident, name),
                    detail="written by mlops-setup",
                )
            else:
                _forget(session, dry_run, "github_secret", ident)
        others = sorted(existing - {name for _, name in ours})
        if others:
            plan.keep(f"secrets mlops-setup did not write stay: {', '.join(others)}")
        _plan_repo_records(session, plan, repo, dry_run)
    if session.settings.databricks.cloud == "azure":
        _plan_client_secrets(session, plan)
    for env in ENVIRONMENTS:
        sp = find_service_principal(session, env)
        if sp is None:
            continue
        _plan_oauth_secrets(session, plan, env, sp, dry_run)
        _plan_federation_policies(session, plan, env, sp, dry_run)
        if session.settings.ci.auth_mode != "token":
            continue
        plan_retire_all(
            plan,
            KIND,
            f"SP {sp.display_name}",
            _tokens_of_ours(session, env, sp),
            lambda token_id, e=env: _token_revoker(session, e, token_id),
            f"workspace {env}, minted by mlops-setup",
        )
    return plan


def _plan_repo_records(session: Session, plan: Plan, repo: Any, dry_run: bool) -> None:
    """The Actions variables and GitHub environments we created (``ci.auth_mode: oidc``)."""
    full = repo.full_name

    def live_variables() -> set[str]:
        return {v.name for v in repo.get_variables()}

    def live_environments() -> set[str]:
        listed = _gh_get(repo, "/environments") or {}
        return {e["name"] for e in listed.get("environments") or []}

    kinds = (
        ("github_variable", "variable", "actions/variables", "written", live_variables),
        ("github_environment", "GitHub environment", "environments", "created", live_environments),
    )
    for kind, noun, path, verb, live in kinds:
        records = [r for r in session.journal.made_records(kind) if r.get("repo") == full]
        names = live() if records else set()
        for record in reversed(records):
            name = record["name"]
            if name not in names:
                _forget(session, dry_run, kind, record["id"])
                continue
            what = f"{noun} {name}"
            url = f"{repo.url}/{path}/{name}"
            plan.add(
                "delete",
                what,
                _github_deleter(session, repo, url, what, kind, record),
                detail=f"{verb} by mlops-setup",
            )


def _gh_get(repo: Any, path: str) -> Any:
    from github import UnknownObjectException

    try:
        return repo._requester.requestJsonAndCheck("GET", f"{repo.url}{path}")[1]
    except UnknownObjectException:
        return None


def _github_deleter(
    session: Session, repo: Any, url: str, what: str, kind: str, record: dict[str, Any]
) -> Callable[[], None]:
    def delete() -> None:
        def gone() -> bool:
            return _gh_get(repo, url.removeprefix(repo.url)) is None

        _github_delete(
            session,
            repo,
            url,
            gone,
            what,
            fix="use a token with admin rights on the repo (classic: `repo` scope; "
            "fine-grained: Administration, Secrets and Variables read and write), then run again",
        )
        session.journal.unmade(kind, record["id"])

    return delete


def _entra_app_of(session: Session, env: str) -> Any:
    """``env``'s Entra app as the setup found or made it (linked: by client id; else by name
    and our tag), or None; read afresh, and never an untagged app of the name."""
    from .sections.ci.azure import graph_errors

    g = session.clients.graph
    linked = session.settings.sp_linked(env)
    with graph_errors("looking up an Entra ID application", page=PAGE):
        if linked:
            return g.app_by_app_id(linked)
        name = session.settings.sp_name(env)
        ours = [a for a in g.apps_named(name) if a.ours and a.display_name == name]
    return ours[0] if len(ours) == 1 else None


def _plan_client_secrets(session: Session, plan: Plan) -> None:
    """The Entra client secrets of ours (Azure, ``ci.auth_mode: token``), found by their
    display name on each environment's app, linked apps included: they are ours all the same."""
    from .sections.ci.credentials import plan_retire_all
    from .sections.ci.secrets_azure import KIND, _ours

    for env in ENVIRONMENTS:
        app = _entra_app_of(session, env)
        if app is None:
            continue
        plan_retire_all(
            plan,
            KIND,
            f"Entra app {app.display_name}",
            _ours(session, app, env),
            lambda key_id, a=app: _client_secret_remover(session, a, key_id),
            "added by mlops-setup",
        )


def _entra_owner_fix(name: str) -> str:
    """What lets one change an Entra app (Graph v1.0 reference: application delete,
    removePassword): owning it, or an application administrator role."""
    return (
        f"be an owner of the app {name} (Entra ID > App registrations > Owners), or hold the "
        "Entra ID role Application Administrator or Cloud Application Administrator"
    )


def _client_secret_remover(session: Session, app: Any, key_id: str) -> Callable[[], None]:
    """ci.secrets' client secret remover (read back when the answer is lost), speaking of the
    destroy."""
    from .sections.ci.credentials import short
    from .sections.ci.secrets import Ledger
    from .sections.ci.secrets_azure import client_secret_remover

    return client_secret_remover(
        session,
        Ledger(session),
        lambda: app,
        key_id,
        f"removing client secret {short(key_id)} of Entra app {app.display_name}",
        denied=_entra_owner_fix(app.display_name),
        voice=_voice(session),
    )


def _plan_oauth_secrets(session: Session, plan: Plan, env: str, sp: Any, dry_run: bool) -> None:
    """The OAuth secrets of ``sp`` the journal knows we created (``ci.auth_mode: oauth``);
    OAuth secrets carry no comment, so one the journal does not know is never touched."""
    from .sections.ci.credentials import plan_retire_all
    from .sections.ci.oauth import KIND, OAuthLedger, _live_secrets

    ledger = OAuthLedger(session)
    ours = set(ledger.in_flight(env))
    stored = ledger.stored(env) or {}
    if stored.get("token_id"):
        ours.add(stored["token_id"])
    if not ours:
        return
    plan_retire_all(
        plan,
        KIND,
        f"SP {sp.display_name}",
        [s for s in _live_secrets(session, sp) if s.secret_id in ours],
        lambda secret_id: _oauth_deleter(session, ledger, sp, secret_id),
        "created by mlops-setup",
    )


def _oauth_deleter(session: Session, ledger: Any, sp: Any, secret_id: str) -> Callable[[], None]:
    """ci.secrets' OAuth secret deleter (read back when the answer is lost), speaking of the
    destroy."""
    from .sections.ci.oauth import _deleter

    return _deleter(session, ledger, sp.env, sp, secret_id, _voice(session))


def _plan_federation_policies(
    session: Session, plan: Plan, env: str, sp: Any, dry_run: bool
) -> None:
    """The federation policies we created on ``sp`` (``ci.auth_mode: oidc``)."""
    for record in reversed(session.journal.made_records("federation_policy")):
        if record.get("sp_id") != str(sp.id):
            continue
        if not _policy_exists(session, record):
            _forget(session, dry_run, "federation_policy", record["id"])
            continue
        plan.add(
            "delete",
            f"federation policy {record['policy_id']} of SP {sp.display_name}",
            _policy_deleter(session, record),
            detail="created by mlops-setup",
        )


def _policy_exists(session: Session, record: dict[str, Any]) -> bool:
    from databricks.sdk.errors import NotFound

    from .databricks_util import ApiErrors, sp_denied_fix

    api = session.clients.account.service_principal_federation_policy
    with ApiErrors(
        session,
        "account",
        f"reading federation policy {record['policy_id']}",
        denied_fix=sp_denied_fix(session, record["env"]),
        page=PAGE,
    ):
        try:
            api.get(service_principal_id=int(record["sp_id"]), policy_id=record["policy_id"])
        except NotFound:
            return False
    return True


def _policy_deleter(session: Session, record: dict[str, Any]) -> Callable[[], None]:
    def delete() -> None:
        from databricks.sdk.errors import NotFound

        from .databricks_util import ApiErrors, sp_denied_fix

        what = f"deleting federation policy {record['policy_id']} of {record['display_name']}"
        api = session.clients.account.service_principal_federation_policy
        with ApiErrors(
            session, "account", what, denied_fix=sp_denied_fix(session, record["env"]), page=PAGE
        ):
            _deleted(
                session,
                lambda: api.delete(
                    service_principal_id=int(record["sp_id"]), policy_id=record["policy_id"]
                ),
                lambda: not _policy_exists(session, record),
                what,
                not_found=(NotFound,),
            )
        session.journal.unmade("federation_policy", record["id"])

    return delete


def _secret_deleter(session: Session, repo: Any, ident: str, name: str) -> Callable[[], None]:
    def delete() -> None:
        from github import UnknownObjectException

        def gone() -> bool:
            try:
                repo.get_secret(name)
            except UnknownObjectException:
                return True
            return False

        _github_delete(
            session,
            repo,
            f"{repo.url}/actions/secrets/{name}",
            gone,
            f"secret {name}",
            fix="use a token that may write the repo's Actions secrets (classic: `repo` scope; "
            "fine-grained: Secrets read and write), then run again",
        )
        session.journal.unmade("github_secret", ident)

    return delete


def _token_revoker(session: Session, env: str, token_id: str) -> Callable[[], None]:
    """ci.secrets' revoker (read back when the answer is lost), speaking of the destroy."""
    from .sections.ci.secrets import Ledger, _revoker

    return _revoker(session, Ledger(session), env, token_id, _voice(session))


# ----------------------------------------------------------------------------- ci.permissions


def plan_grants(session: Session, dry_run: bool = False) -> Plan:
    from .sections.ci.permissions import Securable, _exists, _privileges

    plan = Plan("ci.permissions")
    ours = _our_application_ids(session)
    for record in reversed(session.journal.made_records("grant")):
        securable = Securable(record["env"], record["securable_type"], record["full_name"])
        principal = record["principal"]
        if str(principal).lower() not in ours:
            plan.warn(
                f"the journal records a grant on {securable.kind} {securable.name} to "
                f"{record.get('display_name') or principal}, which is not one of this project's "
                "service principals: left alone (was the journal edited or copied?)"
            )
            continue
        if not _exists(session, securable):
            _forget(session, dry_run, "grant", record["id"])
            continue
        held = _privileges(session, securable, principal)
        privileges = [p for p in record.get("privileges", []) if p in held]
        if not privileges:
            _forget(session, dry_run, "grant", record["id"])
            continue
        name = record.get("display_name") or principal
        plan.add(
            "revoke",
            f"{', '.join(privileges)} on {securable.kind} {securable.name} from SP {name}",
            _grant_revoker(session, record["id"], securable, principal, privileges),
        )
    for kind in ("catalog", "schema"):
        for record in session.journal.made_records(kind):
            env, _, name = record["id"].partition(":")
            if _exists(session, Securable(env, kind, name)):
                plan.keep(
                    f"{kind} {name} (workspace {env}) stays: the setup created it, and it may "
                    "hold the project's data; drop it by hand if you mean to"
                )
    return plan


def _grant_revoker(
    session: Session, ident: str, securable: Any, principal: str, privileges: list[str]
) -> Callable[[], None]:
    def revoke() -> None:
        from databricks.sdk.errors import NotFound
        from databricks.sdk.service import catalog

        from .databricks_util import ApiErrors
        from .sections.ci.permissions import _privileges

        w = session.clients.workspace(securable.env)
        on = f"{securable.kind} {securable.name}"
        change = catalog.PermissionsChange(
            principal=principal, remove=[catalog.Privilege(p) for p in privileges]
        )
        key = f"databricks.grants.{securable.env}.{securable.kind}.{securable.name}"

        def gone() -> bool:  # read afresh: does the principal still hold any of them?
            session.cache.pop(key, None)
            return not set(privileges) & _privileges(session, securable, principal)

        with ApiErrors(
            session,
            securable.env,
            f"revoking {', '.join(privileges)} on {on}",
            denied_fix=f"ask the owner of {on} (or a metastore admin) for MANAGE on it, or to "
            f"revoke {', '.join(privileges)} from {principal}",
            page=PAGE,
        ):
            _deleted(
                session,
                lambda: w.grants.update(securable.kind, securable.name, changes=[change]),
                gone,
                f"revoking {', '.join(privileges)} on {on}",
                not_found=(NotFound,),
            )
        session.cache.pop(key, None)
        session.journal.unmade("grant", ident)

    return revoke


# ---------------------------------------------------------------------- ci.service-principals


def _linked_application_ids(session: Session) -> set[str]:
    from .sections.ci.service_principals import JOURNAL_KEY

    linked = set(((session.journal.get(JOURNAL_KEY) or {}).get("linked") or {}).values())
    for env in ENVIRONMENTS:
        app_id = session.settings.sp_linked(env)
        if app_id:
            linked.add(app_id)
    return {a.lower() for a in linked}


def _ours_by_name(session: Session, record: dict[str, Any]) -> bool:
    """Whether a ``service_principal`` record names this project's SP of its environment (the
    display name the setup gives it), not one a hand-edited or copied journal slipped in."""
    env = record.get("env")
    return env in ENVIRONMENTS and record.get("display_name") == session.settings.sp_name(env)


def _our_application_ids(session: Session) -> set[str]:
    """The application ids of this project's SPs: those the setup created (by the journal,
    under the names the config gives them) and the linked ones."""
    made = session.journal.made_records("service_principal")
    created = {str(r.get("application_id", "")).lower() for r in made if _ours_by_name(session, r)}
    return (created - {""}) | _linked_application_ids(session)


def plan_service_principals(session: Session, dry_run: bool = False) -> Plan:
    from .sections.ci.service_principals import _assignments

    plan = Plan("ci.service-principals")
    for record in reversed(session.journal.made_records("workspace_assignment")):
        ws_id, principal_id = int(record["workspace_id"]), int(record["principal_id"])
        if principal_id not in _assignments(session, ws_id):
            _forget(session, dry_run, "workspace_assignment", record["id"])
            continue
        plan.add(
            "remove",
            f"SP {record['display_name']} from workspace {record['env']}",
            _unassigner(session, record),
            detail="assigned by mlops-setup",
        )
    linked = _linked_application_ids(session)
    for app_id in sorted(linked):
        plan.keep(f"SP with application id {app_id} is linked (made by someone else): not deleted")
    for record in reversed(session.journal.made_records("service_principal")):
        name = record["display_name"]
        if record["application_id"].lower() in linked:
            continue  # said above
        if not _ours_by_name(session, record):
            plan.warn(
                f"the journal records SP {name} as made by the setup, but this project's SPs "
                f"are {' and '.join(session.settings.sp_name(e) for e in ENVIRONMENTS)}: left "
                "alone (was the journal edited or copied?)"
            )
            continue
        live = _live_sp(session, record)
        if live is None:
            _forget(session, dry_run, "service_principal", record["id"])
            continue
        where = (
            "in the account" if record["scope"] == "account" else f"in workspace {record['env']}"
        )
        plan.add(
            "delete",
            f"SP {name}",
            _sp_deleter(session, record),
            detail=f"{where}, application id {record['application_id']}",
        )
    if session.settings.databricks.cloud == "azure":
        _plan_entra_apps(session, plan, linked, dry_run)
    return plan


def _plan_entra_apps(session: Session, plan: Plan, linked: set[str], dry_run: bool) -> None:
    """The Entra apps ``ci.service-principals`` created (journaled ``entra_app``), each with
    its service principal in the tenant; never a linked app, nor one no longer ours."""
    from .sections.ci.azure import graph_errors

    g = session.clients.graph
    apps = session.journal.made_records("entra_app")
    deleting = set()
    for record in reversed(apps):
        client_id = record["app_id"]
        if client_id.lower() in linked:
            continue  # said above, with the Databricks SPs
        with graph_errors("looking up an Entra ID application", page=PAGE):
            live = g.app_by_app_id(client_id)
        if live is None or live.id != record["id"]:
            _forget(session, dry_run, "entra_app", record["id"])
            _forget(session, dry_run, "entra_sp", client_id)
            continue
        deleting.add(client_id)
        plan.add(
            "delete",
            f"Entra app {live.display_name}",
            _entra_app_deleter(session, record),
            detail=f"client id {client_id}, with its Entra SP; restorable for 30 days "
            "(Entra ID > App registrations > Deleted applications)",
        )
    made_apps = {r["app_id"] for r in apps}
    for record in session.journal.made_records("entra_sp"):
        if record["id"] in made_apps or record["id"] in deleting:
            continue  # goes with its app
        plan.warn(
            f"Entra SP of app {record.get('display_name', '')} (client id {record['id']}) was "
            "created by mlops-setup for an app it did not create: not deleted (Entra ID > "
            "Enterprise applications removes it)"
        )


def _entra_app_deleter(session: Session, record: dict[str, Any]) -> Callable[[], None]:
    def delete() -> None:
        from .entra import GraphError
        from .sections.ci.azure import graph_errors

        g = session.clients.graph
        name = record.get("display_name") or record["app_id"]

        def write() -> None:
            try:
                g.delete_app(record["id"])
            except GraphError as exc:
                if exc.status != 404:  # 404: deleted already
                    raise

        what = f"deleting Entra app {name}"
        with graph_errors(what, denied=_entra_owner_fix(name), page=PAGE):
            _deleted(session, write, lambda: g.app_by_app_id(record["app_id"]) is None, what)
        session.cache.pop(f"entra.app.{record['env']}", None)
        session.journal.unmade("entra_sp", record["app_id"])
        session.journal.unmade("entra_app", record["id"])

    return delete


def _sp_api(session: Session, record: dict[str, Any]) -> Any:
    if record["scope"] == "account":
        return session.clients.account.service_principals
    return session.clients.workspace(record["scope"]).service_principals


def _live_sp(session: Session, record: dict[str, Any]) -> Any:
    """The SP the record names, if it still exists and is still the one we made (the same
    application id: a SCIM id is never reused for another principal, but we check)."""
    from databricks.sdk.errors import NotFound

    from .databricks_util import ApiErrors, sp_denied_fix

    with ApiErrors(
        session,
        record["scope"],
        f"reading SP {record['display_name']}",
        denied_fix=sp_denied_fix(session, record["env"]),
        page=PAGE,
    ):
        try:
            sp = _sp_api(session, record).get(record["sp_id"])
        except NotFound:
            return None
    if (sp.application_id or "").lower() != record["application_id"].lower():
        return None
    return sp


def _unassigner(session: Session, record: dict[str, Any]) -> Callable[[], None]:
    def remove() -> None:
        from databricks.sdk.errors import NotFound

        from .databricks_util import ApiErrors, sp_denied_fix
        from .sections.ci.service_principals import _assignments

        ws_id, principal_id = int(record["workspace_id"]), int(record["principal_id"])
        key = f"databricks.assignments.{ws_id}"

        def gone() -> bool:
            session.cache.pop(key, None)
            return principal_id not in _assignments(session, ws_id)

        what = f"removing SP {record['display_name']} from workspace {record['env']}"
        with ApiErrors(
            session, "account", what, denied_fix=sp_denied_fix(session, record["env"]), page=PAGE
        ):
            _deleted(
                session,
                lambda: session.clients.account.workspace_assignment.delete(
                    workspace_id=ws_id, principal_id=principal_id
                ),
                gone,
                what,
                not_found=(NotFound,),
            )
        known = session.cache.get(key)
        if known is not None:
            known.pop(principal_id, None)
        session.journal.unmade("workspace_assignment", record["id"])

    return remove


def _sp_deleter(session: Session, record: dict[str, Any]) -> Callable[[], None]:
    def delete() -> None:
        from databricks.sdk.errors import NotFound

        from .databricks_util import ApiErrors, sp_denied_fix

        what = f"deleting SP {record['display_name']}"
        with ApiErrors(
            session,
            record["scope"],
            what,
            denied_fix=sp_denied_fix(session, record["env"]),
            page=PAGE,
        ):
            _deleted(
                session,
                lambda: _sp_api(session, record).delete(record["sp_id"]),
                lambda: _live_sp(session, record) is None,
                what,
                not_found=(NotFound,),
            )
        session.cache.pop(f"databricks.sp.{record['env']}", None)
        session.journal.unmade("service_principal", record["id"])

    return delete


# -------------------------------------------------------------------------------- repo.create


def plan_repo(session: Session, dry_run: bool = False, delete_repo: bool = False) -> Plan:
    plan = Plan("repo.create")
    full = session.settings.github.full_name
    repo = _github_repo(session)
    if repo is None:
        plan.keep(f"GitHub repo {full} does not exist")
        _forget(session, dry_run, "github_repo", full)
        return plan
    if not delete_repo:
        plan.keep(f"GitHub repo {full} stays, with {KEPT} (--delete-repo deletes it)")
        return plan
    if not any(  # journaled as GitHub spells it, which may differ in case from the config
        str(r.get("id")).lower() == full.lower()
        for r in session.journal.made_records("github_repo")
    ):
        plan.warn(
            f"GitHub repo {full} was not created by mlops-setup (the journal does not record "
            "it): not deleted"
        )
        return plan
    plan.add("delete", f"GitHub repo {full}", _repo_deleter(session, repo), detail=f"with {KEPT}")
    return plan


def _repo_deleter(session: Session, repo: Any) -> Callable[[], None]:
    def delete() -> None:

        full = repo.full_name

        def gone() -> bool:
            session.cache.pop("github.repo", None)
            return _github_repo(session) is None

        _github_delete(
            session,
            repo,
            repo.url,
            gone,
            f"GitHub repo {full}",
            fix="use a token with admin rights on the repo and the `delete_repo` scope "
            "(`gh auth refresh -s delete_repo`; fine-grained: Administration read and write), "
            "then run again",
        )
        session.cache["github.repo"] = None
        session.journal.unmade("github_repo", full)

    return delete


# ------------------------------------------------------------------------------------ the run


def teardown_steps() -> list[Step]:
    """The steps of a destroy: the guide's steps that made something, in reverse order."""
    return [
        Step(
            "ci.workflow-permissions",
            "put back the workflow permissions",
            plan_workflow_permissions,
        ),
        Step("ci.secrets", "delete our secrets, revoke our tokens", plan_secrets),
        Step("ci.permissions", "revoke the grants we added", plan_grants),
        Step("ci.service-principals", "remove the SPs we created", plan_service_principals),
        Step("repo.create", "the GitHub repo", plan_repo),
    ]


def check_repo_name(
    session: Session, delete_repo: bool, yes_delete_repo: str | None, *, dry_run: bool = False
) -> bool:
    """Whether the repo is to be deleted; :class:`SetupError` (exit 2) when the name given or
    typed back is not the repo's: then nothing at all is done. A dry run asks nothing."""
    full = session.settings.github.full_name
    if yes_delete_repo is None and (not delete_repo or dry_run):
        return delete_repo
    given = yes_delete_repo
    if given is None:
        given = ask(
            f"Deleting GitHub repo {full} deletes {KEPT}. Type its full name to confirm: "
        ).strip()
    if given != full:
        error = SetupError(
            f"the repo's name was not confirmed ({given!r} is not {full!r}); nothing was done",
            fix=f"type {full} exactly, or pass --yes-delete-repo={full}",
            page=f"{PAGE}#deleting-the-repo",
        )
        error.exit_code = 2
        raise error
    return True


def run_destroy(
    session: Session, *, dry_run: bool, delete_repo: bool = False, ran: list[Any] | None = None
) -> Tally:
    """Every teardown step in order; stops at the first failure, saying what was undone."""
    from .guide import Stopped, _as_setup_error, _Ran
    from .session import run_in_session

    steps = teardown_steps()
    if not session.journal.made_records():
        session.out.warning(
            f"the journal ({session.journal.path}) records nothing this tool made: run "
            "`setup.destroy` in the folder where the setup ran (its journal is local, never "
            "committed); from here only the tokens carrying our comment can be found"
        )
    total = Tally()
    undone = 0
    ran = [] if ran is None else ran
    for index, step in enumerate(steps):
        seen: list[Plan] = []

        def plan(s: Session, _step: Step = step, _seen: list = seen, **options: Any) -> Plan:
            _seen.append(_step.plan(s, **options))
            return _seen[-1]

        options = {"delete_repo": delete_repo} if step.plan is plan_repo else {}
        try:
            run_in_session(session, Step(step.name, step.title, plan), dry_run=dry_run, **options)
        except Exception as exc:
            error = _as_setup_error(exc)
            if error is None:
                raise
            ran.append(_Ran(seen[-1] if seen else None, error, step))
            if seen and not dry_run:
                undone += len(seen[-1].results)
            where = f"{TASK}: stopped at {step.name} (step {index + 1} of {len(steps)})"
            if dry_run:
                line = f"{where}: an apply would stop there too"
            else:
                line = (
                    f"{where}; {undone} change(s) were undone before it; run `invoke {TASK}` "
                    "again once that is fixed: it resumes there"
                )
            raise Stopped(error, line) from None
        ran.append(_Ran(seen[-1], step=step))
        total += Tally.of(seen[-1].changes)
        undone += len(seen[-1].results)
    session.out.summary(TASK, total, dry_run=dry_run)
    return total


@task(
    name="destroy",
    help={
        "dry_run": DRY_RUN_HELP,
        "delete_repo": DELETE_REPO_HELP,
        "yes_delete_repo": YES_DELETE_REPO_HELP,
    },
)
def destroy(c, dry_run=False, delete_repo=False, yes_delete_repo=None):
    """Undo the setup: only what mlops-setup made, in reverse order; the repo stays."""
    from .session import failures_as_exit, open_session

    with open_session(c) as session, failures_as_exit(session.out):
        deleting = check_repo_name(session, delete_repo, yes_delete_repo, dry_run=dry_run)
        run_destroy(session, dry_run=dry_run, delete_repo=deleting)


# ---------------------------------------------------------------- the runbook's recorded run

# The recorded destroy the runbook shows (``runbook/teardown.md``): the demo's setup of the
# example project, then ``setup.destroy --dry-run`` and ``setup.destroy``, composed by
# tests/test_teardown.py::test_recorded_destroy and replayed by ``docs.refresh``.
RECORDING = "test_recorded_destroy.yaml"


def record_destroy(
    workdir: Path, *, cassette_dir: Path, replay: bool = True, transcript: list[Any] | None = None
) -> None:
    """In ``workdir`` (:func:`mlops_setup.demo.demo_environment`): the whole guide, quietly,
    then the destroy's preview and run, each appended to ``transcript`` as the demo's steps
    are (step ``setup.destroy``, phase ``plan`` or ``apply``)."""
    import io

    from .backoff import RecordingSleep
    from .console import DEMO_WIDTH, Console
    from .demo import NOW, Transcript, _player
    from .guide import run_all
    from .session import Runtime, load_session, use_runtime

    runtime = Runtime(
        sleep=RecordingSleep(), now=lambda: NOW, cwd=str(workdir), probe=lambda *_, **__: None
    )
    with (
        use_runtime(runtime),
        _player(Path(cassette_dir), replay, workdir / "upstream.git", RECORDING),
    ):
        session = load_session()
        try:
            session.out = Console(stream=io.StringIO(), err=io.StringIO(), color=False)
            run_all(session, dry_run=False)
        finally:
            session.close()
        for phase in ("plan", "apply"):  # each a command of its own, as the operator runs it
            buffer = io.StringIO()
            session = load_session()
            session.out = Console(stream=buffer, err=buffer, width=DEMO_WIDTH, color=False)
            try:
                run_destroy(session, dry_run=phase == "plan")
            finally:
                session.close()
            if transcript is not None:
                transcript.append(Transcript(TASK, phase, buffer.getvalue(), {}))
