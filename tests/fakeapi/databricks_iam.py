"""Fake Databricks identity: who am I, account users, service principals, workspace assignment.

Written from the Databricks REST reference (SCIM 2.0 APIs of the account and the workspace,
Workspace Assignment API) and databricks-sdk 0.162's request code (``service/iam.py``). SCIM
endpoints answer in SCIM shapes (``ListResponse``, SCIM errors with ``detail``/``status``).

State in ``world.db`` (:func:`state` fills in the defaults, a fresh account):

* ``me``: the operator, ``{"id", "userName", "displayName"}``; default ``ops@example.com``
* ``account_admin``: the operator has the ``account_admin`` role; default True. When False the
  account SCIM API answers 403, as it does for anyone who is not an account admin.
* ``workspaces``: {env: {"host", "id", "admin"}}; defaults ``staging``/``prod`` at the hosts of
  ``tests/conftest.py``'s BASE_CONFIG, the operator admin in both (``admin``: in ``admins``)
* ``expired``: hosts whose login is rejected. Databricks answers an invalid or expired token
  with 403 and ``{"error_code": 403, "message": "Invalid access token."}`` (an integer
  ``error_code``: databricks/databricks-sdk-go#946, databricks/cli#1608), not 401; the SDK reads it
  as ``PermissionDenied``
* ``account_roles``: the operator's roles in the account users listing; default
  ``["account_admin"]``. ``account_admin`` False is a different case: the API refuses (403)
* ``service_principals``: [{"id", "applicationId", "displayName", "active", "scope"}], scope
  ``account`` or the env of the workspace it was created in; default none
* ``assignments``: {workspace id (str): {principal id (str): ["USER"]}}
* ``sp_visible_after``: each SP created from now on is missed by its first N lookups in a
  workspace (eventual consistency); default 0. ``hidden``: {applicationId: lookups left}.

Helpers for tests: :func:`add_service_principal`, :func:`set_workspace_admin`.
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakeapi import Reply, World, databricks_error, route, scim_error

ACCOUNT = r"/api/2.0/accounts/(?P<account>[^/]+)"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServicePrincipal"
USER_SCHEMAS = [
    "urn:ietf:params:scim:schemas:core:2.0:User",
    "urn:ietf:params:scim:schemas:extension:workspace:2.0:User",
]
APP_ID_NAMESPACE = uuid.UUID("6f2a1a5e-1111-4c7b-9a3c-1c2d3e4f5a6b")
ADMINS_GROUP_ID = "380152418921744"
USERS_GROUP_ID = "524287341297103"


def state(world: World) -> dict[str, Any]:
    db = world.db
    db.setdefault(
        "me", {"id": "4471120912345678", "userName": "ops@example.com", "displayName": "Ops"}
    )
    db.setdefault("account_admin", True)
    db.setdefault("account_roles", ["account_admin"])
    db.setdefault(
        "workspaces",
        {
            "staging": {"host": "staging.cloud.databricks.com", "id": 1234567890123456},
            "prod": {"host": "prod.cloud.databricks.com", "id": 6543210987654321},
        },
    )
    for ws in db["workspaces"].values():
        ws.setdefault("admin", True)
    db.setdefault("expired", set())
    db.setdefault("service_principals", [])
    db.setdefault("assignments", {})
    db.setdefault("sp_visible_after", 0)
    db.setdefault("hidden", {})
    return db


def cloud_workspaces(world: World, cloud: str) -> None:
    """The fake's staging/prod workspaces at the example project's hosts on ``cloud`` (its
    workspace ids are the numbers in those hosts); before anything reads the workspaces."""
    from mlops_setup.example import DEFAULT_HOSTS

    world.db["workspaces"] = {
        env: {
            "host": host.removeprefix("https://"),
            "id": int(host.removeprefix("https://adb-").removeprefix("https://").split(".")[0]),
        }
        for env, host in DEFAULT_HOSTS[cloud].items()
    }


def workspace_for(world: World, host: str) -> tuple[str, dict] | None:
    for env, ws in state(world)["workspaces"].items():
        if ws["host"] == host:
            return env, ws
    return None


def set_workspace_admin(world: World, env: str, admin: bool) -> None:
    state(world)["workspaces"][env]["admin"] = admin


def application_id(display_name: str, serial: int = 0) -> str:
    """A stable UUID per name (and serial, for duplicates)."""
    return str(uuid.uuid5(APP_ID_NAMESPACE, f"{display_name}#{serial}"))


def add_service_principal(
    world: World,
    display_name: str,
    *,
    scope: str = "account",
    assigned_to: tuple[str, ...] = (),
    permissions: tuple[str, ...] = ("USER",),
) -> dict:
    """An existing SP (in the account, or in workspace ``scope``), assigned to workspaces."""
    db = state(world)
    sps = db["service_principals"]
    serial = sum(1 for sp in sps if sp["displayName"] == display_name)
    sp = {
        "id": str(7001000000000001 + len(sps)),
        "applicationId": application_id(display_name, serial),
        "displayName": display_name,
        "active": True,
        "scope": scope,
    }
    sps.append(sp)
    for env in assigned_to:
        ws_id = str(db["workspaces"][env]["id"])
        db["assignments"].setdefault(ws_id, {})[sp["id"]] = list(permissions)
    return sp


def principal_names(world: World) -> set[str]:
    """Names Unity Catalog resolves: the operator, groups, and every SP's application id."""
    db = state(world)
    return {
        db["me"]["userName"],
        "admins",
        "account users",
        "data-scientists",
        *(sp["applicationId"] for sp in db["service_principals"]),
    }


# ------------------------------------------------------------------------------- SCIM bits


def scim_filter(expression: str | None) -> tuple[str, str] | None:
    """``attr eq "value"`` -> (attr, value); the only filter form this project sends."""
    if not expression:
        return None
    attr, _, rest = expression.partition(" eq ")
    value = rest.strip()
    if not (value.startswith('"') and value.endswith('"')):
        return None
    return attr.strip(), value[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def scim_matches(resource: dict, expression: str | None) -> bool:
    parsed = scim_filter(expression)
    if parsed is None:
        return True
    attr, value = parsed
    return str(resource.get(attr, "")).lower() == value.lower()  # SCIM eq: case-insensitive


def project(resource: dict, attributes: str | None) -> dict:
    if not attributes:
        return resource
    keep = {a.strip() for a in attributes.split(",")} | {"id"}
    return {k: v for k, v in resource.items() if k in keep}


def scim_page(req, resources: list[dict]) -> Reply:
    start = int(req.query.get("startIndex", 1))
    count = int(req.query.get("count", 10000))
    page = resources[start - 1 : start - 1 + count]
    body: dict[str, Any] = {
        "totalResults": len(resources),
        "itemsPerPage": len(page),
        "startIndex": start,
        "schemas": [LIST_SCHEMA],
    }
    if page:
        body["Resources"] = [project(r, req.query.get("attributes")) for r in page]
    return Reply(200, body)


def sp_body(sp: dict) -> dict:
    return {
        "id": sp["id"],
        "applicationId": sp["applicationId"],
        "displayName": sp["displayName"],
        "active": sp["active"],
        "schemas": [SP_SCHEMA],
    }


def _expired(world: World, req) -> Reply | None:
    if req.host in state(world)["expired"]:
        message = "Invalid access token."
        return Reply(
            403,
            {"error_code": 403, "message": message},
            headers={"X-Databricks-Reason-Phrase": message},
        )
    return None


def _account_denied(world: World, req) -> Reply | None:
    expired = _expired(world, req)
    if expired is not None:
        return expired
    if not state(world)["account_admin"]:
        return scim_error(403, "Only account admins can access this API.")
    return None


def _new_sp(world: World, display_name: str, scope: str, app_id: str | None = None) -> dict:
    db = state(world)
    sp = add_service_principal(world, display_name, scope=scope)
    if app_id:  # Azure: an Entra ID managed SP takes the app's client id
        sp["applicationId"] = app_id
    if db["sp_visible_after"]:
        db["hidden"][sp["applicationId"]] = db["sp_visible_after"]
    return sp


# ------------------------------------------------------------------------------- workspace


@route("GET", "databricks", r"/api/2.0/preview/scim/v2/Me")
def workspace_me(world: World, req) -> Reply:
    denied = _expired(world, req)
    if denied is not None:
        return denied
    found = workspace_for(world, req.host)
    if found is None:
        return databricks_error(404, "ENDPOINT_NOT_FOUND", f"No workspace at {req.host}")
    _, ws = found
    me = state(world)["me"]
    groups = [{"display": "users", "value": USERS_GROUP_ID, "$ref": f"Groups/{USERS_GROUP_ID}"}]
    if ws["admin"]:
        groups.insert(
            0, {"display": "admins", "value": ADMINS_GROUP_ID, "$ref": f"Groups/{ADMINS_GROUP_ID}"}
        )
    body = {
        "id": me["id"],
        "userName": me["userName"],
        "displayName": me["displayName"],
        "active": True,
        "emails": [{"value": me["userName"], "type": "work", "primary": True}],
        "groups": [{**g, "type": "direct"} for g in groups],
        "schemas": USER_SCHEMAS,
    }
    return Reply(200, body, headers={"X-Databricks-Org-Id": str(ws["id"])})


def _visible_in(world: World, env: str, sp: dict) -> bool:
    db = state(world)
    if sp["scope"] == "account":
        ws_id = str(db["workspaces"][env]["id"])
        return sp["id"] in db["assignments"].get(ws_id, {})
    return sp["scope"] == env


@route("GET", "databricks", r"/api/2.0/preview/scim/v2/ServicePrincipals")
def workspace_list_sps(world: World, req) -> Reply:
    denied = _expired(world, req)
    if denied is not None:
        return denied
    env, _ = workspace_for(world, req.host) or (None, None)
    db = state(world)
    found = []
    for sp in db["service_principals"]:
        if env is None or not _visible_in(world, env, sp):
            continue
        if not scim_matches(sp, req.query.get("filter")):
            continue
        if db["hidden"].get(sp["applicationId"]):
            db["hidden"][sp["applicationId"]] -= 1  # not synced into the workspace yet
            continue
        found.append(sp_body(sp))
    return scim_page(req, found)


@route("POST", "databricks", r"/api/2.0/preview/scim/v2/ServicePrincipals")
def workspace_create_sp(world: World, req) -> Reply:
    denied = _expired(world, req)
    if denied is not None:
        return denied
    found = workspace_for(world, req.host)
    if found is None or not found[1]["admin"]:
        return scim_error(403, "Only workspace admins can create service principals.")
    sp = _new_sp(world, req.json["displayName"], found[0], req.json.get("applicationId"))
    return Reply(201, sp_body(sp))


# --------------------------------------------------------------------------------- account


@route("GET", "databricks", rf"{ACCOUNT}/scim/v2/Users")
def account_list_users(world: World, req) -> Reply:
    denied = _account_denied(world, req)
    if denied is not None:
        return denied
    me = state(world)["me"]
    user = {
        "id": me["id"],
        "userName": me["userName"],
        "displayName": me["displayName"],
        "active": True,
    }
    roles = state(world)["account_roles"]
    if roles:  # SCIM leaves out an empty multi-valued attribute
        user["roles"] = [{"value": role, "type": "direct"} for role in roles]
    user["schemas"] = USER_SCHEMAS[:1]
    users = [user] if scim_matches(user, req.query.get("filter")) else []
    return scim_page(req, users)


@route("GET", "databricks", rf"{ACCOUNT}/scim/v2/ServicePrincipals")
def account_list_sps(world: World, req) -> Reply:
    denied = _account_denied(world, req)
    if denied is not None:
        return denied
    found = [
        sp_body(sp)
        for sp in state(world)["service_principals"]
        if sp["scope"] == "account" and scim_matches(sp, req.query.get("filter"))
    ]
    return scim_page(req, found)


@route("POST", "databricks", rf"{ACCOUNT}/scim/v2/ServicePrincipals")
def account_create_sp(world: World, req) -> Reply:
    denied = _account_denied(world, req)
    if denied is not None:
        return denied
    sp = _new_sp(world, req.json["displayName"], "account", req.json.get("applicationId"))
    return Reply(201, sp_body(sp))


@route("GET", "databricks", rf"{ACCOUNT}/scim/v2/ServicePrincipals/(?P<id>\d+)")
def account_get_sp(world: World, req) -> Reply:
    denied = _account_denied(world, req)
    if denied is not None:
        return denied
    for sp in state(world)["service_principals"]:
        if sp["id"] == req.params["id"] and sp["scope"] == "account":
            return Reply(200, sp_body(sp))
    return scim_error(404, f"ServicePrincipal with id {req.params['id']} not found.")


def _workspace_by_id(world: World, ws_id: str) -> str | None:
    for env, ws in state(world)["workspaces"].items():
        if str(ws["id"]) == ws_id:
            return env
    return None


def _assignment_body(world: World, principal_id: str, permissions: list[str]) -> dict:
    db = state(world)
    if principal_id == db["me"]["id"]:
        principal = {
            "principal_id": int(principal_id),
            "user_name": db["me"]["userName"],
            "display_name": db["me"]["displayName"],
        }
    else:
        sp = next(s for s in db["service_principals"] if s["id"] == principal_id)
        principal = {
            "principal_id": int(principal_id),
            "service_principal_name": sp["applicationId"],
            "display_name": sp["displayName"],
        }
    return {"principal": principal, "permissions": permissions}


@route("GET", "databricks", rf"{ACCOUNT}/workspaces/(?P<ws>\d+)/permissionassignments")
def list_assignments(world: World, req) -> Reply:
    denied = _expired(world, req)
    if denied is not None:
        return denied
    if not state(world)["account_admin"]:
        return databricks_error(403, "PERMISSION_DENIED", "Only account admins may do this.")
    if _workspace_by_id(world, req.params["ws"]) is None:
        return databricks_error(404, "RESOURCE_DOES_NOT_EXIST", "Workspace not found.")
    db = state(world)
    assigned = {db["me"]["id"]: ["ADMIN"], **db["assignments"].get(req.params["ws"], {})}
    body = [_assignment_body(world, pid, perms) for pid, perms in assigned.items()]
    return Reply(200, {"permission_assignments": body})


@route(
    "PUT",
    "databricks",
    rf"{ACCOUNT}/workspaces/(?P<ws>\d+)/permissionassignments/principals/(?P<pid>\d+)",
)
def update_assignment(world: World, req) -> Reply:
    denied = _expired(world, req)
    if denied is not None:
        return denied
    db = state(world)
    if not db["account_admin"]:
        return databricks_error(403, "PERMISSION_DENIED", "Only account admins may do this.")
    if _workspace_by_id(world, req.params["ws"]) is None:
        return databricks_error(404, "RESOURCE_DOES_NOT_EXIST", "Workspace not found.")
    pid = req.params["pid"]
    if not any(sp["id"] == pid for sp in db["service_principals"]):
        return databricks_error(404, "RESOURCE_DOES_NOT_EXIST", f"Principal {pid} not found.")
    permissions = [p for p in (req.json or {}).get("permissions", []) if p in ("USER", "ADMIN")]
    db["assignments"].setdefault(req.params["ws"], {})[pid] = permissions
    return Reply(200, _assignment_body(world, pid, permissions))


@route(
    "DELETE",
    "databricks",
    rf"{ACCOUNT}/workspaces/(?P<ws>\d+)/permissionassignments/principals/(?P<pid>\d+)",
)
def delete_assignment(world: World, req) -> Reply:
    """Delete Workspace Permission Assignment: ``{}`` (Databricks REST reference,
    access-management/v1; databricks-sdk ``WorkspaceAssignmentAPI.delete``)."""
    denied = _expired(world, req)
    if denied is not None:
        return denied
    db = state(world)
    if not db["account_admin"]:
        return databricks_error(403, "PERMISSION_DENIED", "Only account admins may do this.")
    ws = req.params["ws"]
    if _workspace_by_id(world, ws) is None:
        return databricks_error(404, "RESOURCE_DOES_NOT_EXIST", "Workspace not found.")
    if db["assignments"].get(ws, {}).pop(req.params["pid"], None) is None:
        return databricks_error(
            404, "RESOURCE_DOES_NOT_EXIST", f"Principal {req.params['pid']} is not assigned."
        )
    if not db["assignments"][ws]:
        del db["assignments"][ws]
    return Reply(200, {})


def _delete_sp(world: World, sp_id: str, scope: str) -> Reply:
    """A SCIM delete: 204 without a body; the principal leaves every workspace with it."""
    db = state(world)
    for sp in db["service_principals"]:
        if sp["id"] == sp_id and sp["scope"] == scope:
            db["service_principals"].remove(sp)
            for ws in list(db["assignments"]):
                db["assignments"][ws].pop(sp_id, None)
                if not db["assignments"][ws]:
                    del db["assignments"][ws]
            return Reply(204)
    return scim_error(404, f"ServicePrincipal with id {sp_id} not found.")


@route("DELETE", "databricks", rf"{ACCOUNT}/scim/v2/ServicePrincipals/(?P<id>\d+)")
def account_delete_sp(world: World, req) -> Reply:
    denied = _account_denied(world, req)
    if denied is not None:
        return denied
    return _delete_sp(world, req.params["id"], "account")


@route("GET", "databricks", r"/api/2.0/preview/scim/v2/ServicePrincipals/(?P<id>\d+)")
def workspace_get_sp(world: World, req) -> Reply:
    denied = _expired(world, req)
    if denied is not None:
        return denied
    found = workspace_for(world, req.host)
    for sp in state(world)["service_principals"]:
        if found is not None and sp["id"] == req.params["id"] and sp["scope"] == found[0]:
            return Reply(200, sp_body(sp))
    return scim_error(404, f"ServicePrincipal with id {req.params['id']} not found.")


@route("DELETE", "databricks", r"/api/2.0/preview/scim/v2/ServicePrincipals/(?P<id>\d+)")
def workspace_delete_sp(world: World, req) -> Reply:
    denied = _expired(world, req)
    if denied is not None:
        return denied
    found = workspace_for(world, req.host)
    if found is None or not found[1]["admin"]:
        return scim_error(403, "Only workspace admins can delete service principals.")
    return _delete_sp(world, req.params["id"], found[0])
