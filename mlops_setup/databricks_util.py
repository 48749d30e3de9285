"""What several Databricks steps share: who the operator is, the service principals, errors.

* :func:`workspace_me`: the operator in a workspace (user name, groups, workspace id), from one
  ``GET /api/2.0/preview/scim/v2/Me`` whose ``X-Databricks-Org-Id`` header is the workspace id
  (what ``WorkspaceClient.get_workspace_id()`` would fetch with a second identical request).
* :func:`find_service_principal`: an environment's SP, found by display name in the account
  (``databricks.sp_mode: account``) or in the environment's workspace (``workspace``); ``None``
  when it does not exist, :class:`SetupError` when the name is taken twice. ``ci.secrets`` uses
  it for the application ids.
* :func:`scim_list`: a SCIM search that stops when ``totalResults`` are in (the SDK's own
  ``list()`` always asks for one more, empty, page).
* :func:`explain`: an SDK error (401, 403, connection failure) as a :class:`SetupError` naming
  the host, the setting and what to do; :func:`login_rejected` tells a rejected login (401, or
  403 "Invalid access token") from a missing right (any other 403).

Every lookup is cached in the session, so ``setup.all`` asks each question once. Nothing here
imports databricks-sdk at module level (``invoke --list`` must stay fast).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .changes import SetupError
from .clients import AUTH_PAGE

PAGE_PREREQUISITES = "ci.md#prerequisites"
PAGE_SERVICE_PRINCIPALS = "ci.md#service-principals"
PAGE_PERMISSIONS = "ci.md#permissions"

ADMINS_GROUP = "admins"
ACCOUNT_ADMIN_ROLE = "account_admin"
WORKSPACE_ME = "/api/2.0/preview/scim/v2/Me"
WORKSPACE_SPS = "/api/2.0/preview/scim/v2/ServicePrincipals"
ORG_ID_HEADER = "X-Databricks-Org-Id"
SCIM_PAGE_SIZE = 100
SP_ATTRIBUTES = "id,displayName,applicationId,active"
_ACCEPT = {"Accept": "application/json"}


@dataclass(frozen=True)
class Me:
    """The operator as one workspace sees them."""

    env: str
    user_name: str
    groups: tuple[str, ...]
    workspace_id: int

    @property
    def is_admin(self) -> bool:
        return ADMINS_GROUP in self.groups


@dataclass(frozen=True)
class ServicePrincipalInfo:
    """An environment's service principal. ``id`` is its SCIM id where it lives (``scope``:
    ``account``, or the environment's workspace); ``created`` is true when this run made it."""

    env: str
    display_name: str
    id: str
    application_id: str
    scope: str
    created: bool = False
    linked: bool = False  # named by application id in config: never created, changed, removed


# ------------------------------------------------------------------------------------ errors


class DetailedError(SetupError):
    """A :class:`SetupError` with a one-line ``message`` (what ``setup.status`` shows) and
    ``details``: lines printed between the error line and the fix."""

    def __init__(self, message: str, details: list[str], *, fix: str = "", page: str = "") -> None:
        super().__init__(message, fix=fix, page=page)
        self.details = list(details)

    def lines(self) -> list[str]:
        first, *rest = super().lines()
        return [first, *self.details, *rest]


def host_setting(env: str) -> str:
    """The config key holding the host of ``env`` (``account`` or a workspace env)."""
    return "databricks.account.host" if env == "account" else f"databricks.workspaces.{env}.host"


def host_of(session: Any, env: str) -> str:
    db = session.settings.databricks
    return db.account.host if env == "account" else db.workspace(env).host


def _profile_hint(session: Any, env: str) -> str:
    db = session.settings.databricks
    profile = db.account.profile if env == "account" else db.workspace(env).profile
    return f" --profile {profile}" if profile else ""


def _is_connection_failure(exc: BaseException) -> bool:
    import requests

    seen: BaseException | None = exc
    for _ in range(5):  # the SDK wraps the last connection error in a TimeoutError
        if seen is None:
            return False
        if isinstance(seen, requests.ConnectionError | requests.Timeout):
            return True
        seen = seen.__cause__
    return False


def login_rejected(exc: BaseException) -> int | None:
    """The HTTP status with which the host rejected the login itself, or None.

    A missing or unsupported credential is a 401 (``Unauthenticated``). An invalid or expired
    token is a 403 with ``{"error_code": 403, "message": "Invalid access token."}``: the SDK
    reads that by its status as ``PermissionDenied`` (with its config appended to the message),
    so only the message tells it from a missing right."""
    from databricks.sdk.errors import PermissionDenied, Unauthenticated

    if isinstance(exc, Unauthenticated):
        return 401
    if isinstance(exc, PermissionDenied) and "invalid access token" in str(exc).lower():
        return 403
    return None


def explain(
    exc: BaseException, session: Any, env: str, doing: str, *, denied_fix: str, page: str
) -> SetupError | None:
    """``exc`` raised while ``doing`` something on ``env``'s host, as a SetupError; None if it is
    not an auth, permission or connection problem (the caller decides)."""
    from databricks.sdk.errors import PermissionDenied

    host = host_of(session, env)
    where = "the account" if env == "account" else f"workspace {env}"
    status = login_rejected(exc)
    if status is not None:
        account = (
            f" --account-id {session.settings.databricks.account.id}" if env == "account" else ""
        )
        return SetupError(
            f"{host} rejected the login while {doing} ({status}): the credentials are missing, "
            "invalid or expired",
            fix=f"log in again (`databricks auth login --host {host}{account}"
            f"{_profile_hint(session, env)}`), then run again",
            page=AUTH_PAGE,
        )
    if isinstance(exc, PermissionDenied):
        return SetupError(f"{where} refused {doing} (403)", fix=denied_fix, page=page)
    if _is_connection_failure(exc):
        return SetupError(
            f"cannot reach {host} while {doing}",
            fix=f"check {host_setting(env)} in your config, and your network or VPN",
            page=AUTH_PAGE,
        )
    if isinstance(exc, TimeoutError):  # the SDK's retries (429, 503) ran out
        return SetupError(
            f"{host} kept answering busy or unavailable while {doing}; gave up after retrying",
            fix="run again later (https://status.databricks.com shows outages)",
            page=page,
        )
    return None


class ApiErrors:
    """``with ApiErrors(session, env, "listing service principals", denied_fix=...)``: turn
    auth, permission and connection errors into a :class:`SetupError`; with ``not_found``
    (message, fix), a 404 too. Other errors pass through."""

    def __init__(
        self,
        session: Any,
        env: str,
        doing: str,
        *,
        denied_fix: str = "",
        page: str = "",
        not_found: tuple[str, str] | None = None,
    ) -> None:
        self.session, self.env, self.doing = session, env, doing
        self.denied_fix, self.page, self.not_found = denied_fix, page, not_found

    def __enter__(self) -> ApiErrors:
        return self

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, SetupError) or not isinstance(exc, Exception):
            return False
        if self.not_found is not None:
            from databricks.sdk.errors import NotFound

            if isinstance(exc, NotFound):
                message, fix = self.not_found
                raise SetupError(message, fix=fix, page=self.page) from None
        error = explain(
            exc, self.session, self.env, self.doing, denied_fix=self.denied_fix, page=self.page
        )
        if error is not None:
            raise error from None
        return False


def is_principal_missing(exc: BaseException) -> bool:
    """Unity Catalog does not know the principal (yet): a just-created SP."""
    code = str(getattr(exc, "error_code", "") or "")
    return code == "PRINCIPAL_DOES_NOT_EXIST" or "could not find principal" in str(exc).lower()


# -------------------------------------------------------------------------------------- SCIM


def scim_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def scim_list(client: Any, path: str, *, filter: str, attributes: str = "") -> list[dict]:
    """Every resource matching ``filter`` at SCIM ``path``, as raw dicts."""
    query: dict[str, Any] = {"filter": filter, "startIndex": 1, "count": SCIM_PAGE_SIZE}
    if attributes:
        query["attributes"] = attributes
    found: list[dict] = []
    while True:
        page = client.api_client.do("GET", path, query=dict(query), headers=_ACCEPT)
        items = page.get("Resources") or []
        found.extend(items)
        total = int(page.get("totalResults") or 0)
        if not items or len(found) >= total:
            return found
        query["startIndex"] += len(items)


# ------------------------------------------------------------------------------- who am I


def workspace_me(session: Any, env: str) -> Me:
    """The operator in ``env``'s workspace, and that workspace's id (cached)."""

    def load() -> Me:
        from databricks.sdk.service import iam

        w = session.clients.workspace(env)
        host = host_of(session, env)
        with ApiErrors(
            session,
            env,
            "reading who you are",
            denied_fix=f"ask a workspace admin of {env} to add you to the workspace",
            page=PAGE_PREREQUISITES,
            not_found=(
                f"{host} has no SCIM API (404): is it a Databricks workspace URL?",
                f"check {host_setting(env)} in your config",
            ),
        ):
            answer = w.api_client.do(
                "GET", WORKSPACE_ME, headers=_ACCEPT, response_headers=[ORG_ID_HEADER]
            )
        org_id = answer.pop(ORG_ID_HEADER, None) or w.config.workspace_id
        user = iam.User.from_dict(answer)
        groups = tuple(sorted(g.display for g in user.groups or [] if g.display))
        return Me(env, user.user_name or "", groups, int(org_id or 0))

    return session.cached(f"databricks.me.{env}", load)


def workspace_id(session: Any, env: str) -> int:
    me = workspace_me(session, env)
    if not me.workspace_id:
        raise SetupError(
            f"workspace {env} did not say its workspace id",
            fix=f"set DATABRICKS_WORKSPACE_ID or workspace_id in the profile for {env}",
            page=PAGE_SERVICE_PRINCIPALS,
        )
    return me.workspace_id


# ------------------------------------------------------------------------ service principals


def account_sps_path(session: Any) -> str:
    return f"/api/2.0/accounts/{session.settings.databricks.account.id}/scim/v2/ServicePrincipals"


def account_not_found(session: Any) -> tuple[str, str]:
    acct = session.settings.databricks.account
    return (
        f"{acct.host} knows no account {acct.id} (404)",
        "check databricks.account.id (the account console shows it) and databricks.cloud",
    )


def sp_label(session: Any, env: str) -> str:
    """What to call ``env``'s SP: its display name (looked up for a linked SP)."""
    if session.settings.sp_linked(env):
        found = find_service_principal(session, env)
        return found.display_name if found is not None else session.settings.sp_name(env)
    return session.settings.sp_name(env)


def sp_denied_fix(session: Any, env: str) -> str:
    if session.settings.databricks.sp_mode == "account":
        return (
            "ask an account admin to give you the Account admin role, or set "
            "databricks.sp_mode: workspace to create the SPs in each workspace instead"
        )
    return f"ask a workspace admin of {env} to add you to the admins group there"


def find_service_principal(session: Any, env: str) -> ServicePrincipalInfo | None:
    """``env``'s service principal by its configured display name, or None (cached)."""
    return session.cached(f"databricks.sp.{env}", lambda: _find_service_principal(session, env))


def remember_service_principal(session: Any, info: ServicePrincipalInfo) -> None:
    session.cache[f"databricks.sp.{info.env}"] = info


def _find_service_principal(session: Any, env: str) -> ServicePrincipalInfo | None:
    if session.settings.sp_linked(env):
        return _find_linked(session, env)
    name = session.settings.sp_name(env)
    found, scope, where = _scim_sps(
        session, env, "listing service principals", f"displayName eq {scim_quote(name)}"
    )
    sps = [sp for sp in found if sp.display_name == name]  # SCIM eq ignores case
    if len(sps) > 1:
        raise DetailedError(
            f"{len(sps)} service principals in {where} are named {name}:",
            [f"  - id {sp.id}, application id {sp.application_id}" for sp in sps],
            fix="delete or rename the extra ones (User management > Service principals), or "
            f"set databricks.service_principals.{env} to another name",
            page=PAGE_SERVICE_PRINCIPALS,
        )
    if not sps:
        return None
    sp = sps[0]
    return ServicePrincipalInfo(env, name, str(sp.id), str(sp.application_id), scope)


def _scim_sps(session: Any, env: str, what: str, scim_filter: str) -> tuple[list, str, str]:
    """(the SPs matching ``scim_filter`` where ``env``'s SP lives, its scope, its place)."""
    from databricks.sdk.service import iam

    in_account = session.settings.databricks.sp_mode == "account"
    scope = "account" if in_account else env
    where = "the account" if in_account else f"workspace {env}"
    client = session.clients.account if in_account else session.clients.workspace(env)
    path = account_sps_path(session) if in_account else WORKSPACE_SPS
    with ApiErrors(
        session,
        scope,
        what,
        denied_fix=sp_denied_fix(session, env),
        page=PAGE_SERVICE_PRINCIPALS,
        not_found=account_not_found(session) if in_account else None,
    ):
        found = scim_list(client, path, filter=scim_filter, attributes=SP_ATTRIBUTES)
    return [iam.ServicePrincipal.from_dict(item) for item in found], scope, where


def _find_linked(session: Any, env: str) -> ServicePrincipalInfo:
    """A linked SP (``databricks.service_principals.<env>: {application_id: ...}``), found by
    its application id where the setup would have created it. It must exist and be active:
    there is no None here, because nothing may create it; the error says who can fix it."""
    settings = session.settings
    app_id = settings.sp_linked(env)
    in_account = settings.databricks.sp_mode == "account"
    found, scope, where = _scim_sps(
        session,
        env,
        "looking up a linked service principal",
        f"applicationId eq {scim_quote(app_id)}",
    )
    sps = [sp for sp in found if (sp.application_id or "").lower() == app_id]
    key = f"databricks.service_principals.{env}"
    if not sps:
        if in_account:
            why = (
                "an SP made in a single workspace is not in the account and cannot be assigned "
                "from it (then set databricks.sp_mode: workspace)"
            )
        else:
            why = f"it must exist in workspace {env} (or be assigned to it from the account)"
        raise SetupError(
            f"the linked service principal {app_id} ({key}) does not exist in {where}; "
            "a linked SP is never created",
            fix=f"check the application id with whoever created the SP; {why}",
            page=PAGE_SERVICE_PRINCIPALS,
        )
    sp = sps[0]
    label = sp.display_name or app_id
    if sp.active is False:
        raise SetupError(
            f"the linked service principal {label} (application id {app_id}) is deactivated in "
            f"{where}; a linked SP is never changed by the setup",
            fix="ask whoever owns it to activate it (User management > Service principals), "
            "then run again",
            page=PAGE_SERVICE_PRINCIPALS,
        )
    return ServicePrincipalInfo(env, label, str(sp.id), app_id, scope, linked=True)
