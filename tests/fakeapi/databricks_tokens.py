"""Fake Databricks: token management (guide section "Set secrets for CI/CD").

As in a workspace (REST 2.0, "Token management"; AWS and GCP only):

* ``POST /api/2.0/token-management/on-behalf-of/tokens`` {application_id, lifetime_seconds,
  comment}: a token on behalf of the service principal: ``token_value`` (shown this once) and
  ``token_info``. ``owner_id`` is the SP's SCIM id; ``created_by_id``/``created_by_username``
  name the admin who asked for it (the API reference: "User ID of the user that created the
  token"). 404 RESOURCE_DOES_NOT_EXIST for an application id the workspace does not know.
* ``GET /api/2.0/token-management/tokens`` (``created_by_id``, ``created_by_username``): the live
  tokens (``token_infos``; an empty list is left out, as the API does).
* ``GET``/``DELETE /api/2.0/token-management/tokens/{token_id}``; 404 RESOURCE_DOES_NOT_EXIST.

State in ``world.db``:

* ``tokens``: {host: {token_id: token_info dict}}; seed with :func:`add_token`
* the service principals, their ids and which workspace they are in: ``databricks_iam``'s
  state (seed with ``databricks_iam.add_service_principal(..., assigned_to=("staging",))``)
* ``minted``: {token value: (host, token_id)} of every token minted here, only in memory while
  composing, so the tests can check that no value reached a cassette, the output or the journal
  and ``github_actions`` can check which token a secret received. Never written anywhere.
"""

from __future__ import annotations

import hashlib

from tests.fakeapi import NOW_EPOCH, Reply, World, databricks_error, route
from tests.fakeapi import databricks_iam as iam

TOKENS = "/api/2.0/token-management/tokens"


def tokens(world: World, host: str) -> dict[str, dict]:
    return world.db.setdefault("tokens", {}).setdefault(host, {})


def _sp_id(world: World, host: str, application_id: str) -> int | None:
    """The SCIM id of the SP with ``application_id`` if it is in the workspace at ``host``."""
    found = iam.workspace_for(world, host)
    if found is None:
        return None
    env, ws = found
    db = iam.state(world)
    assigned = db["assignments"].get(str(ws["id"]), {})
    for sp in db["service_principals"]:
        if sp["applicationId"] != application_id:
            continue
        if sp["id"] in assigned if sp["scope"] == "account" else sp["scope"] == env:
            return int(sp["id"])
    return None


def _token_id(host: str, number: int) -> str:
    return hashlib.sha256(f"{host}/token/{number}".encode()).hexdigest()


def add_token(
    world: World,
    host: str,
    *,
    sp_id: int,
    application_id: str,
    comment: str,
    created_days_ago: float = 10,
    lifetime_days: float | None = 90,
) -> str:
    """Seed a token (no value) and return its id."""
    store = tokens(world, host)
    token_id = _token_id(host, len(store) + 1 + len(world.db.get("minted", {})))
    created = int((NOW_EPOCH - created_days_ago * 86400) * 1000)
    store[token_id] = {
        "token_id": token_id,
        "creation_time": created,
        "expiry_time": -1 if lifetime_days is None else created + int(lifetime_days * 86400000),
        "comment": comment,
        **_creator(world),
        "owner_id": int(sp_id),
        "workspace_id": _workspace_id(world, host),
    }
    return token_id


def _creator(world: World) -> dict:
    """An on-behalf-of token is created by the admin who asked for it and owned by the SP."""
    me = iam.state(world)["me"]
    return {"created_by_id": int(me["id"]), "created_by_username": me["userName"]}


def _workspace_id(world: World, host: str) -> int:
    found = iam.workspace_for(world, host)
    return int(found[1]["id"]) if found else 0


def token_id_of(world: World, value: str) -> str:
    """The id of the live token whose value is ``value`` ("" if there is none)."""
    host, token_id = world.db.get("minted", {}).get(value, ("", ""))
    return token_id if token_id in tokens(world, host) else ""


def minted_values(world: World) -> list[str]:
    return list(world.db.get("minted", {}))


@route("POST", "databricks", "/api/2.0/token-management/on-behalf-of/tokens")
def create_obo_token(world: World, req) -> Reply:
    body = req.json or {}
    application_id = str(body.get("application_id", ""))
    sp_id = _sp_id(world, req.host, application_id)
    if sp_id is None:
        return databricks_error(
            404,
            "RESOURCE_DOES_NOT_EXIST",
            f"Service principal with application ID {application_id} does not exist in this "
            "workspace.",
        )
    minted = world.db.setdefault("minted", {})
    store = tokens(world, req.host)
    number = len(store) + 1 + len(minted)
    token_id = _token_id(req.host, number)
    value = "dapi" + hashlib.sha256(f"value/{req.host}/{number}".encode()).hexdigest()[:32]
    now_ms = NOW_EPOCH * 1000
    lifetime = body.get("lifetime_seconds")
    info = {
        "token_id": token_id,
        "creation_time": now_ms,
        "expiry_time": -1 if not lifetime else now_ms + int(lifetime) * 1000,
        "comment": body.get("comment", ""),
        **_creator(world),
        "owner_id": sp_id,
        "workspace_id": _workspace_id(world, req.host),
    }
    store[token_id] = info
    minted[value] = (req.host, token_id)
    return Reply(200, {"token_info": dict(info), "token_value": value})


@route("GET", "databricks", TOKENS)
def list_tokens(world: World, req) -> Reply:
    by_id = req.query.get("created_by_id")
    by_name = req.query.get("created_by_username")
    infos = [
        dict(t)
        for t in tokens(world, req.host).values()
        if (by_id is None or str(t["created_by_id"]) == by_id)
        and (by_name is None or t["created_by_username"] == by_name)
    ]
    infos.sort(key=lambda t: (t["creation_time"], t["token_id"]))
    return Reply(200, {"token_infos": infos} if infos else {})


@route("GET", "databricks", rf"{TOKENS}/(?P<token_id>[^/]+)")
def get_token(world: World, req) -> Reply:
    info = tokens(world, req.host).get(req.params["token_id"])
    if info is None:
        return databricks_error(404, "RESOURCE_DOES_NOT_EXIST", "Token does not exist.")
    return Reply(200, {"token_info": dict(info)})


@route("DELETE", "databricks", rf"{TOKENS}/(?P<token_id>[^/]+)")
def delete_token(world: World, req) -> Reply:
    if tokens(world, req.host).pop(req.params["token_id"], None) is None:
        return databricks_error(404, "RESOURCE_DOES_NOT_EXIST", "Token does not exist.")
    return Reply(200, {})
