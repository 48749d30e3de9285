"""Fake Microsoft Graph v1.0: app registrations, their service principals, client secrets.

Written from Microsoft's Graph v1.0 reference (application, servicePrincipal, addPassword,
removePassword, delete application, organization) for the calls :mod:`mlops_setup.entra` makes;
bodies use Graph's property names and are checked by ``tests/conformance.py`` against a
hand-written schema of those resources taken from Microsoft's published OpenAPI description
(see the README).

State in ``world.graph`` (:func:`state` fills in the defaults):

* ``tenant``: the tenant id; ``apps``: [{"id", "appId", "displayName", "tags",
  "passwordCredentials": [{"keyId", "displayName", "endDateTime", "startDateTime", "hint"}]}]
* ``sps``: [{"id", "appId"}]; ``sp_lag``: each new app is unknown to ``POST
  /servicePrincipals`` for its first N attempts (replication); ``lagging``: {appId: left}
* ``lose_answers``: the next N ``POST /applications`` create the app, then answer 504
* ``can_add_password``: False answers addPassword with 403 (not owner, no role)
* ``users_may_create_apps``: the authorization policy's ``allowedToCreateApps`` (default True,
  Entra's default); ``my_roles``: display names of the signed-in user's directory roles;
  ``app_login``: the login is an application (``/me`` answers 400)

Helpers: :func:`add_app`, :func:`azure_workspaces` (the Azure example's workspace hosts in the
Databricks fake).
"""

from __future__ import annotations

import uuid
from typing import Any

from tests.fakeapi import NOW, Reply, World, graph_error, route

V1 = "/v1.0"
NAMESPACE = uuid.UUID("0b7d7a8e-2222-4d6c-8b1a-9a8b7c6d5e4f")
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AZURE_HOSTS = {
    "staging": "adb-3141592653589793.3.azuredatabricks.net",
    "prod": "adb-2718281828459045.5.azuredatabricks.net",
}
CONTEXT = "https://graph.microsoft.com/v1.0/$metadata#"


def state(world: World) -> dict[str, Any]:
    g = world.graph
    g.setdefault("tenant", TENANT)
    g.setdefault("apps", [])
    g.setdefault("sps", [])
    g.setdefault("sp_lag", 0)
    g.setdefault("lagging", {})
    g.setdefault("can_add_password", True)
    g.setdefault("users_may_create_apps", True)
    g.setdefault("my_roles", [])
    g.setdefault("app_login", False)
    g.setdefault("serial", 0)
    return g


def _id(world: World, kind: str) -> str:
    g = state(world)
    g["serial"] += 1
    return str(uuid.uuid5(NAMESPACE, f"{kind}#{g['serial']}"))


def azure_workspaces(world: World) -> None:
    """The Databricks fake's workspaces at the Azure example project's hosts."""
    world.db["workspaces"] = {
        "staging": {"host": AZURE_HOSTS["staging"], "id": 3141592653589793},
        "prod": {"host": AZURE_HOSTS["prod"], "id": 2718281828459045},
    }


def add_app(
    world: World, display_name: str, *, ours: bool = True, with_sp: bool = True
) -> dict[str, Any]:
    """An existing app registration (tagged mlops-setup when ``ours``), with its tenant SP."""
    app = {
        "id": _id(world, "app"),
        "appId": _id(world, "client"),
        "displayName": display_name,
        "tags": ["mlops-setup"] if ours else [],
        "passwordCredentials": [],
    }
    state(world)["apps"].append(app)
    if with_sp:
        state(world)["sps"].append({"id": _id(world, "sp"), "appId": app["appId"]})
    return app


def add_secret(world: World, app: dict, display_name: str, *, end: str, start: str = NOW) -> dict:
    cred = {
        "customKeyIdentifier": None,
        "displayName": display_name,
        "endDateTime": end,
        "hint": "Fk~",
        "keyId": _id(world, "key"),
        "secretText": None,
        "startDateTime": start,
    }
    app["passwordCredentials"].append(cred)
    return cred


def _eq(expression: str | None) -> tuple[str, str] | None:
    """``prop eq 'value'`` (OData) -> (prop, value)."""
    if not expression or " eq " not in expression:
        return None
    prop, _, value = expression.partition(" eq ")
    value = value.strip()
    if not (value.startswith("'") and value.endswith("'")):
        return None
    return prop.strip(), value[1:-1].replace("''", "'")


def _select(resource: dict, select: str | None) -> dict:
    if not select:
        return resource
    keep = {s.strip() for s in select.split(",")}
    return {k: v for k, v in resource.items() if k in keep}


def _app_body(app: dict) -> dict:
    return {
        "id": app["id"],
        "appId": app["appId"],
        "displayName": app["displayName"],
        "description": app.get("description"),
        "signInAudience": app.get("signInAudience", "AzureADMyOrg"),
        "createdDateTime": app.get("createdDateTime", NOW),
        "tags": app["tags"],
        "passwordCredentials": app["passwordCredentials"],
    }


def _sp_body(sp: dict) -> dict:
    return {
        "id": sp["id"],
        "appId": sp["appId"],
        "accountEnabled": True,
        "tags": sp.get("tags", []),
    }


@route("GET", "graph", rf"{V1}/organization")
def organization(world: World, req) -> Reply:
    org = {"id": state(world)["tenant"], "displayName": "Contoso"}
    return Reply(
        200,
        {
            "@odata.context": f"{CONTEXT}organization",
            "value": [_select(org, req.query.get("$select"))],
        },
    )


ROLE_TEMPLATES = {  # Entra's built-in role template ids (stable across tenants)
    "Application Developer": "cf1c38e5-3621-4004-a7cb-879624dced7c",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
}


@route("GET", "graph", rf"{V1}/policies/authorizationPolicy")
def authorization_policy(world: World, req) -> Reply:
    allowed = state(world)["users_may_create_apps"]
    return Reply(
        200,
        {
            "@odata.context": f"{CONTEXT}policies/authorizationPolicy/$entity",
            "id": "authorizationPolicy",
            "displayName": "Authorization Policy",
            "defaultUserRolePermissions": {
                "allowedToCreateApps": allowed,
                "allowedToCreateSecurityGroups": True,
                "allowedToReadOtherUsers": True,
            },
        },
    )


@route("GET", "graph", rf"{V1}/me/transitiveMemberOf/microsoft\.graph\.directoryRole")
def my_roles(world: World, req) -> Reply:
    g = state(world)
    if g["app_login"]:
        return graph_error(
            400, "BadRequest", "/me request is only valid with delegated authentication flow."
        )
    roles = [
        {"id": _id(world, f"role-{name}"), "displayName": name, "roleTemplateId": template}
        for name, template in ROLE_TEMPLATES.items()
        if name in g["my_roles"]
    ]
    return Reply(
        200,
        {
            "@odata.context": f"{CONTEXT}directoryRoles",
            "value": [_select(r, req.query.get("$select")) for r in roles],
        },
    )


@route("GET", "graph", rf"{V1}/applications")
def list_apps(world: World, req) -> Reply:
    cond = _eq(req.query.get("$filter"))
    found = [
        _select(_app_body(a), req.query.get("$select"))
        for a in state(world)["apps"]
        if cond is None or str(a.get(cond[0])) == cond[1]
    ]
    return Reply(200, {"@odata.context": f"{CONTEXT}applications", "value": found})


@route("POST", "graph", rf"{V1}/applications")
def create_app(world: World, req) -> Reply:
    body = req.json
    app = {
        "id": _id(world, "app"),
        "appId": _id(world, "client"),
        "displayName": body["displayName"],
        "description": body.get("description"),
        "signInAudience": body.get("signInAudience", "AzureADMyOrg"),
        "tags": list(body.get("tags") or []),
        "passwordCredentials": [],
    }
    g = state(world)
    g["apps"].append(app)
    if g["sp_lag"]:
        g["lagging"][app["appId"]] = g["sp_lag"]
    if g.get("lose_answers"):  # made, but the gateway gave up waiting for the answer
        g["lose_answers"] -= 1
        return graph_error(504, "GatewayTimeout", "The gateway did not receive a response.")
    return Reply(201, {"@odata.context": f"{CONTEXT}applications/$entity", **_app_body(app)})


@route("GET", "graph", rf"{V1}/servicePrincipals")
def list_sps(world: World, req) -> Reply:
    cond = _eq(req.query.get("$filter"))
    found = [
        _select(_sp_body(sp), req.query.get("$select"))
        for sp in state(world)["sps"]
        if cond is None or str(sp.get(cond[0])) == cond[1]
    ]
    return Reply(200, {"@odata.context": f"{CONTEXT}servicePrincipals", "value": found})


@route("POST", "graph", rf"{V1}/servicePrincipals")
def create_sp(world: World, req) -> Reply:
    g = state(world)
    app_id = req.json["appId"]
    if g["lagging"].get(app_id):
        g["lagging"][app_id] -= 1
        return graph_error(
            400,
            "Request_BadRequest",
            f"The appId '{app_id}' of the service principal does not reference a valid "
            "application object.",
        )
    if not any(a["appId"] == app_id for a in g["apps"]):
        return graph_error(404, "Request_ResourceNotFound", f"Application {app_id} not found.")
    if any(sp["appId"] == app_id for sp in g["sps"]):
        return graph_error(409, "Request_MultipleObjectsWithSameKeyValue", "Already exists.")
    sp = {"id": _id(world, "sp"), "appId": app_id, "tags": list(req.json.get("tags") or [])}
    g["sps"].append(sp)
    return Reply(201, {"@odata.context": f"{CONTEXT}servicePrincipals/$entity", **_sp_body(sp)})


def _app_by_id(world: World, object_id: str) -> dict | None:
    return next((a for a in state(world)["apps"] if a["id"] == object_id), None)


@route("POST", "graph", rf"{V1}/applications/(?P<id>[0-9a-f-]+)/addPassword")
def add_password(world: World, req) -> Reply:
    app = _app_by_id(world, req.params["id"])
    if app is None:
        return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
    if not state(world)["can_add_password"]:
        return graph_error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
    given = req.json["passwordCredential"]
    cred = add_secret(world, app, given["displayName"], end=given["endDateTime"], start=world.now)
    secret = "Fk~" + uuid.uuid5(NAMESPACE, cred["keyId"]).hex + "0123456789"
    return Reply(
        200,
        {
            "@odata.context": f"{CONTEXT}microsoft.graph.passwordCredential",
            **{**cred, "secretText": secret},
        },
    )


@route("POST", "graph", rf"{V1}/applications/(?P<id>[0-9a-f-]+)/removePassword")
def remove_password(world: World, req) -> Reply:
    app = _app_by_id(world, req.params["id"])
    if app is None:
        return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
    key_id = req.json["keyId"]
    before = len(app["passwordCredentials"])
    app["passwordCredentials"] = [c for c in app["passwordCredentials"] if c["keyId"] != key_id]
    if len(app["passwordCredentials"]) == before:
        return graph_error(
            400, "Request_BadRequest", f"No password credential found with keyId {key_id}."
        )
    return Reply(204)


@route("DELETE", "graph", rf"{V1}/applications/(?P<id>[0-9a-f-]+)")
def delete_app(world: World, req) -> Reply:
    """Graph v1.0 "Delete application": 204; the app's service principal in the tenant goes
    with it (the fake keeps no deleted-items container: a deleted app is just gone)."""
    g = state(world)
    app = _app_by_id(world, req.params["id"])
    if app is None:
        return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
    g["apps"] = [a for a in g["apps"] if a is not app]
    g["sps"] = [sp for sp in g["sps"] if sp["appId"] != app["appId"]]
    return Reply(204)
