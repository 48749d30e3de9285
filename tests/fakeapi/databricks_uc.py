"""Fake Databricks Unity Catalog: catalogs, schemas, table existence, grants.

Written from the Unity Catalog REST reference (``/api/2.1/unity-catalog/...``) and
databricks-sdk 0.162's request code (``service/catalog.py``). One metastore serves both
workspaces (the common single-region setup), so a catalog is seen from either.

State in ``world.db`` (:func:`state` fills in the defaults: the catalogs of the targets exist,
no schema, no batch inference table, no grants):

* ``catalogs``: {name: {"owner"}}; default ``staging``, ``prod``, ``test``
* ``schemas``: {"catalog.schema": {"owner"}}; default none
* ``tables``: set of full table names; default none
* ``grants``: {"<type>/<full name>": {principal: [privileges]}}; default none
* ``may_create_catalog`` / ``may_create_schema`` / ``may_grant``: the operator's rights;
  default True. When False the API answers 403 PERMISSION_DENIED.
* ``uc_unknown``: {principal: N}: the next N grant updates naming it answer
  PRINCIPAL_DOES_NOT_EXIST (a principal not yet synced into Unity Catalog)

Principals Unity Catalog resolves are the operator, a few groups and every SP's application id
(:func:`tests.fakeapi.databricks_iam.principal_names`); any other answers
PRINCIPAL_DOES_NOT_EXIST. Privileges a securable type does not take (USE_CATALOG on a schema)
answer INVALID_PARAMETER_VALUE, as the real service does.

Helpers for tests: :func:`add_schema`, :func:`add_table`, :func:`add_grant`, :func:`grants_on`.
"""

from __future__ import annotations

from typing import Any

from tests.fakeapi import NOW_EPOCH, Reply, World, databricks_error, route
from tests.fakeapi.databricks_iam import principal_names
from tests.fakeapi.databricks_iam import state as iam_state

UC = "/api/2.1/unity-catalog"
METASTORE_ID = "19a85dee-54bc-43a2-87ab-023d0ec16013"
NOW_MS = NOW_EPOCH * 1000
APPLICABLE = {
    "catalog": {
        "ALL_PRIVILEGES",
        "USE_CATALOG",
        "USE_SCHEMA",
        "MODIFY",
        "SELECT",
        "CREATE_MODEL",
        "CREATE_TABLE",
        "CREATE_SCHEMA",
        "EXECUTE",
    },
    "schema": {
        "ALL_PRIVILEGES",
        "USE_SCHEMA",
        "MODIFY",
        "SELECT",
        "CREATE_MODEL",
        "CREATE_TABLE",
        "EXECUTE",
    },
    "table": {"ALL_PRIVILEGES", "SELECT", "MODIFY"},
}
NOT_FOUND_CODES = {
    "catalog": "CATALOG_DOES_NOT_EXIST",
    "schema": "SCHEMA_DOES_NOT_EXIST",
    "table": "TABLE_DOES_NOT_EXIST",
}


def state(world: World) -> dict[str, Any]:
    db = world.db
    db.setdefault("catalogs", {name: {} for name in ("staging", "prod", "test")})
    for info in db["catalogs"].values():
        info.setdefault("owner", "admins")
    db.setdefault("schemas", {})
    db.setdefault("tables", set())
    db.setdefault("grants", {})
    db.setdefault("may_create_catalog", True)
    db.setdefault("may_create_schema", True)
    db.setdefault("may_grant", True)
    db.setdefault("uc_unknown", {})
    return db


def add_schema(world: World, full_name: str) -> None:
    state(world)["schemas"][full_name] = {"owner": "admins"}


def add_table(world: World, full_name: str) -> None:
    catalog, schema, _ = full_name.split(".")
    add_schema(world, f"{catalog}.{schema}")
    state(world)["tables"].add(full_name)


def add_grant(world: World, kind: str, full_name: str, principal: str, *privileges: str) -> None:
    held = state(world)["grants"].setdefault(f"{kind}/{full_name}", {})
    held[principal] = sorted({*held.get(principal, []), *privileges})


def grants_on(world: World, kind: str, full_name: str) -> dict[str, list[str]]:
    return state(world)["grants"].get(f"{kind}/{full_name}", {})


def _exists(world: World, kind: str, full_name: str) -> bool:
    db = state(world)
    if kind == "catalog":
        return full_name in db["catalogs"]
    if kind == "schema":
        return full_name in db["schemas"]
    return full_name in db["tables"]


def _missing(kind: str, full_name: str) -> Reply:
    label = {"catalog": "Catalog", "schema": "Schema", "table": "Table"}[kind]
    return databricks_error(404, NOT_FOUND_CODES[kind], f"{label} '{full_name}' does not exist.")


def _parent_missing(world: World, full_name: str) -> Reply | None:
    parts = full_name.split(".")
    if parts[0] not in state(world)["catalogs"]:
        return _missing("catalog", parts[0])
    if len(parts) > 2 and ".".join(parts[:2]) not in state(world)["schemas"]:
        return _missing("schema", ".".join(parts[:2]))
    return None


def _audit(world: World) -> dict:
    me = iam_state(world)["me"]["userName"]
    return {"created_at": NOW_MS, "created_by": me, "updated_at": NOW_MS, "updated_by": me}


def catalog_body(world: World, name: str) -> dict:
    info = state(world)["catalogs"][name]
    body = {
        "name": name,
        "full_name": name,
        "owner": info["owner"],
        "catalog_type": "MANAGED_CATALOG",
        "metastore_id": METASTORE_ID,
        "isolation_mode": "OPEN",
        "securable_type": "CATALOG",
        "browse_only": False,
        **_audit(world),
    }
    for key in ("comment", "storage_root"):
        if info.get(key):
            body[key] = info[key]
    return body


def schema_body(world: World, full_name: str) -> dict:
    info = state(world)["schemas"][full_name]
    catalog, name = full_name.split(".", 1)
    body = {
        "name": name,
        "catalog_name": catalog,
        "full_name": full_name,
        "owner": info["owner"],
        "catalog_type": "MANAGED_CATALOG",
        "metastore_id": METASTORE_ID,
        "browse_only": False,
        **_audit(world),
    }
    if info.get("comment"):
        body["comment"] = info["comment"]
    return body


def _assignments(world: World, kind: str, full_name: str, principal: str | None = None) -> list:
    held = grants_on(world, kind, full_name)
    return [
        {"principal": p, "privileges": sorted(privs)}
        for p, privs in sorted(held.items())
        if privs and (principal is None or p == principal)
    ]


def _denied(message: str) -> Reply:
    return databricks_error(403, "PERMISSION_DENIED", message)


# -------------------------------------------------------------------------------- catalogs


@route("GET", "databricks", rf"{UC}/catalogs/(?P<name>[^/]+)")
def get_catalog(world: World, req) -> Reply:
    if not _exists(world, "catalog", req.params["name"]):
        return _missing("catalog", req.params["name"])
    return Reply(200, catalog_body(world, req.params["name"]))


@route("POST", "databricks", rf"{UC}/catalogs")
def create_catalog(world: World, req) -> Reply:
    db = state(world)
    name = req.json["name"]
    if not db["may_create_catalog"]:
        return _denied(f"User does not have CREATE CATALOG on Metastore '{METASTORE_ID}'.")
    if name in db["catalogs"]:
        return databricks_error(409, "CATALOG_ALREADY_EXISTS", f"Catalog '{name}' already exists")
    db["catalogs"][name] = {
        "owner": iam_state(world)["me"]["userName"],
        "comment": req.json.get("comment"),
        "storage_root": req.json.get("storage_root"),
    }
    return Reply(200, catalog_body(world, name))


# --------------------------------------------------------------------------------- schemas


@route("GET", "databricks", rf"{UC}/schemas/(?P<name>[^/]+)")
def get_schema(world: World, req) -> Reply:
    full_name = req.params["name"]
    missing = _parent_missing(world, full_name)
    if missing is not None:
        return missing
    if not _exists(world, "schema", full_name):
        return _missing("schema", full_name)
    return Reply(200, schema_body(world, full_name))


@route("POST", "databricks", rf"{UC}/schemas")
def create_schema(world: World, req) -> Reply:
    db = state(world)
    catalog, name = req.json["catalog_name"], req.json["name"]
    full_name = f"{catalog}.{name}"
    if catalog not in db["catalogs"]:
        return _missing("catalog", catalog)
    if not db["may_create_schema"]:
        return _denied(f"User does not have CREATE SCHEMA on Catalog '{catalog}'.")
    if full_name in db["schemas"]:
        return databricks_error(
            409, "SCHEMA_ALREADY_EXISTS", f"Schema '{name}' already exists in '{catalog}'"
        )
    db["schemas"][full_name] = {
        "owner": iam_state(world)["me"]["userName"],
        "comment": req.json.get("comment"),
    }
    return Reply(200, schema_body(world, full_name))


# ---------------------------------------------------------------------------------- tables


@route("GET", "databricks", rf"{UC}/tables/(?P<name>[^/]+)/exists")
def table_exists(world: World, req) -> Reply:
    full_name = req.params["name"]
    missing = _parent_missing(world, full_name)
    if missing is not None:
        return missing
    return Reply(200, {"table_exists": full_name in state(world)["tables"]})


# ---------------------------------------------------------------------------------- grants


@route("GET", "databricks", rf"{UC}/permissions/(?P<kind>[a-z_]+)/(?P<name>[^/]+)")
def get_grants(world: World, req) -> Reply:
    kind, full_name = req.params["kind"], req.params["name"]
    if kind not in NOT_FOUND_CODES:
        return databricks_error(400, "INVALID_PARAMETER_VALUE", f"Unknown securable {kind}")
    if not _exists(world, kind, full_name):
        return _missing(kind, full_name)
    found = _assignments(world, kind, full_name, req.query.get("principal"))
    return Reply(200, {"privilege_assignments": found} if found else {})


@route("PATCH", "databricks", rf"{UC}/permissions/(?P<kind>[a-z_]+)/(?P<name>[^/]+)")
def update_grants(world: World, req) -> Reply:
    db = state(world)
    kind, full_name = req.params["kind"], req.params["name"]
    if kind not in NOT_FOUND_CODES:
        return databricks_error(400, "INVALID_PARAMETER_VALUE", f"Unknown securable {kind}")
    if not _exists(world, kind, full_name):
        return _missing(kind, full_name)
    if not db["may_grant"]:
        return _denied(f"User does not have MANAGE on {kind.capitalize()} '{full_name}'.")
    changes = (req.json or {}).get("changes") or []
    known = principal_names(world)
    for change in changes:
        principal = change.get("principal", "")
        if db["uc_unknown"].get(principal):
            db["uc_unknown"][principal] -= 1
            return _unknown_principal(principal)
        if principal not in known:
            return _unknown_principal(principal)
        for privilege in [*change.get("add", []), *change.get("remove", [])]:
            if privilege not in APPLICABLE[kind]:
                return databricks_error(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    f"Privilege {privilege} is not applicable to this entity "
                    f"[{full_name}:{kind.upper()}]",
                )
    for change in changes:
        held = db["grants"].setdefault(f"{kind}/{full_name}", {})
        now = set(held.get(change["principal"], []))
        now |= set(change.get("add", []))
        now -= set(change.get("remove", []))
        if now:
            held[change["principal"]] = sorted(now)
        else:  # a principal left with nothing is no longer listed
            held.pop(change["principal"], None)
        if not held:
            del db["grants"][f"{kind}/{full_name}"]
    found = _assignments(world, kind, full_name)
    return Reply(200, {"privilege_assignments": found} if found else {})


def _unknown_principal(principal: str) -> Reply:
    return databricks_error(
        404, "PRINCIPAL_DOES_NOT_EXIST", f"Could not find principal with name {principal}."
    )
