"""Fake Databricks: OAuth credentials of account service principals (CI without stored PATs).

Written from the Databricks REST reference (Account API: "Service principal federation
policies", "Service principal secrets") and databricks-sdk 0.162's request code
(``service/oauth2.py``). Both live under the account's numeric SP id:

* ``POST /api/2.0/accounts/{a}/servicePrincipals/{id}/federationPolicies?policy_id=ID`` body a
  ``FederationPolicy`` (``oidc_policy``: ``issuer``, ``audiences``, ``subject``): the stored
  policy with ``name``, ``uid``, ``service_principal_id``, times. 409 RESOURCE_ALREADY_EXISTS
  when ``policy_id`` is taken on that SP; 404 for an SP the account does not have.
* ``GET .../federationPolicies`` (``policies``, left out when empty), ``GET``/``DELETE
  .../federationPolicies/{policy_id}`` (404 RESOURCE_DOES_NOT_EXIST).
* ``POST .../credentials/secrets`` {lifetime: "<seconds>s"}: ``secret`` (shown this once),
  ``id``, ``secret_hash``, ``status`` ACTIVE, times (default lifetime 730 days).
* ``GET .../credentials/secrets`` (``secrets``: SecretInfo without the value), ``DELETE
  .../credentials/secrets/{id}``.

State in ``world.db``:

* ``federation_policies``: {sp id (str): {policy_id: policy dict}}; seed with
  :func:`add_policy`
* ``sp_secrets``: {sp id (str): {secret id: SecretInfo dict}}; seed with :func:`add_secret`
* ``minted``: shared with ``databricks_tokens``: {value: (where, id)} of every OAuth secret
  minted here, in memory only, so tests can check that no value leaked anywhere.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid

from tests.fakeapi import Reply, World, databricks_error, route
from tests.fakeapi import databricks_iam as iam

SP = r"/api/2.0/accounts/(?P<account>[^/]+)/servicePrincipals/(?P<sp>\d+)"
POLICY_ID = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
DEFAULT_LIFETIME = 730 * 86400


def policies(world: World, sp_id: str) -> dict[str, dict]:
    return world.db.setdefault("federation_policies", {}).setdefault(str(sp_id), {})


def sp_secrets(world: World, sp_id: str) -> dict[str, dict]:
    return world.db.setdefault("sp_secrets", {}).setdefault(str(sp_id), {})


def _sp_exists(world: World, sp_id: str) -> bool:
    return any(
        sp["id"] == str(sp_id) and sp["scope"] == "account"
        for sp in iam.state(world)["service_principals"]
    )


def _missing_sp(sp_id: str) -> Reply:
    return databricks_error(
        404, "RESOURCE_DOES_NOT_EXIST", f"Service principal {sp_id} does not exist."
    )


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _now(world: World) -> dt.datetime:
    return dt.datetime.fromisoformat(world.now.replace("Z", "+00:00"))


def add_policy(
    world: World, account: str, sp_id: str, policy_id: str, *, subject: str, audience: str = ""
) -> dict:
    """Seed a GitHub Actions federation policy on an SP (audience: the account id if empty)."""
    body = {
        "oidc_policy": {
            "issuer": "https://token.actions.githubusercontent.com",
            "audiences": [audience or account],
            "subject": subject,
        }
    }
    return _store_policy(world, account, str(sp_id), policy_id, body)


def _store_policy(world: World, account: str, sp_id: str, policy_id: str, body: dict) -> dict:
    stamp = world.now
    policy = {
        "create_time": stamp,
        "name": f"accounts/{account}/servicePrincipals/{sp_id}/federationPolicies/{policy_id}",
        "oidc_policy": dict(body.get("oidc_policy") or {}),
        "policy_id": policy_id,
        "service_principal_id": int(sp_id),
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sp_id}/{policy_id}")),
        "update_time": stamp,
    }
    if body.get("description"):
        policy["description"] = body["description"]
    policies(world, sp_id)[policy_id] = policy
    return policy


@route("POST", "databricks", rf"{SP}/federationPolicies")
def create_policy(world: World, req) -> Reply:
    sp_id = req.params["sp"]
    if not _sp_exists(world, sp_id):
        return _missing_sp(sp_id)
    policy_id = req.query.get("policy_id") or uuid.uuid4().hex[:12]
    if not POLICY_ID.match(policy_id):
        return databricks_error(400, "INVALID_PARAMETER_VALUE", f"Invalid policy_id {policy_id}")
    if policy_id in policies(world, sp_id):
        return databricks_error(
            409,
            "RESOURCE_ALREADY_EXISTS",
            f"Federation policy {policy_id} already exists for service principal {sp_id}.",
        )
    oidc = (req.json or {}).get("oidc_policy") or {}
    if not oidc.get("issuer") or not oidc.get("subject"):
        return databricks_error(
            400, "INVALID_PARAMETER_VALUE", "oidc_policy.issuer and subject are required"
        )
    policy = _store_policy(world, req.params["account"], sp_id, policy_id, req.json or {})
    return Reply(200, dict(policy))


@route("GET", "databricks", rf"{SP}/federationPolicies")
def list_policies(world: World, req) -> Reply:
    sp_id = req.params["sp"]
    if not _sp_exists(world, sp_id):
        return _missing_sp(sp_id)
    found = [dict(p) for _, p in sorted(policies(world, sp_id).items())]
    return Reply(200, {"policies": found} if found else {})


def _policy_or_404(world: World, req) -> dict | Reply:
    policy = policies(world, req.params["sp"]).get(req.params["policy"])
    if policy is None:
        return databricks_error(
            404, "RESOURCE_DOES_NOT_EXIST", f"Federation policy {req.params['policy']} not found."
        )
    return policy


@route("GET", "databricks", rf"{SP}/federationPolicies/(?P<policy>[^/]+)")
def get_policy(world: World, req) -> Reply:
    found = _policy_or_404(world, req)
    return found if isinstance(found, Reply) else Reply(200, dict(found))


@route("DELETE", "databricks", rf"{SP}/federationPolicies/(?P<policy>[^/]+)")
def delete_policy(world: World, req) -> Reply:
    found = _policy_or_404(world, req)
    if isinstance(found, Reply):
        return found
    del policies(world, req.params["sp"])[req.params["policy"]]
    return Reply(200, {})


# ------------------------------------------------------------------------------ secrets


def add_secret(world: World, sp_id: str, *, created_days_ago: float = 10, lifetime_days=730):
    """Seed an OAuth secret (no value) of an SP; returns its id."""
    store = sp_secrets(world, sp_id)
    number = len(store) + 1 + len(world.db.get("minted", {}))
    secret_id = hashlib.sha256(f"{sp_id}/secret/{number}".encode()).hexdigest()[:32]
    created = _now(world) - dt.timedelta(days=created_days_ago)
    store[secret_id] = _info(secret_id, created, created + dt.timedelta(days=lifetime_days))
    return secret_id


def _info(secret_id: str, created: dt.datetime, expires: dt.datetime) -> dict:
    return {
        "create_time": _iso(created),
        "expire_time": _iso(expires),
        "id": secret_id,
        "secret_hash": secret_id[:6],
        "status": "ACTIVE",
        "update_time": _iso(created),
    }


def secret_id_of(world: World, value: str) -> str:
    """The id of the live OAuth secret whose value is ``value`` ("" if none)."""
    where, secret_id = world.db.get("minted", {}).get(value, ("", ""))
    if not where.startswith("sp:"):
        return ""
    return secret_id if secret_id in sp_secrets(world, where[3:]) else ""


@route("POST", "databricks", rf"{SP}/credentials/secrets")
def create_secret(world: World, req) -> Reply:
    sp_id = req.params["sp"]
    if not _sp_exists(world, sp_id):
        return _missing_sp(sp_id)
    lifetime = (req.json or {}).get("lifetime")
    seconds = DEFAULT_LIFETIME
    if lifetime is not None:
        match = re.fullmatch(r"(\d+)s", str(lifetime))
        if not match:
            return databricks_error(400, "INVALID_PARAMETER_VALUE", f"Invalid lifetime {lifetime}")
        seconds = int(match.group(1))
    minted = world.db.setdefault("minted", {})
    store = sp_secrets(world, sp_id)
    number = len(store) + 1 + len(minted)
    secret_id = hashlib.sha256(f"{sp_id}/secret/{number}".encode()).hexdigest()[:32]
    value = "dose" + hashlib.sha256(f"secret/{sp_id}/{number}".encode()).hexdigest()[:32]
    now = _now(world)
    info = _info(secret_id, now, now + dt.timedelta(seconds=seconds))
    store[secret_id] = info
    minted[value] = (f"sp:{sp_id}", secret_id)
    return Reply(200, {**info, "secret": value})


@route("GET", "databricks", rf"{SP}/credentials/secrets")
def list_secrets(world: World, req) -> Reply:
    sp_id = req.params["sp"]
    if not _sp_exists(world, sp_id):
        return _missing_sp(sp_id)
    found = sorted(sp_secrets(world, sp_id).values(), key=lambda s: (s["create_time"], s["id"]))
    return Reply(200, {"secrets": [dict(s) for s in found]} if found else {})


@route("DELETE", "databricks", rf"{SP}/credentials/secrets/(?P<secret>[^/]+)")
def delete_secret(world: World, req) -> Reply:
    if sp_secrets(world, req.params["sp"]).pop(req.params["secret"], None) is None:
        return databricks_error(404, "RESOURCE_DOES_NOT_EXIST", "Secret does not exist.")
    return Reply(200, {})


def list_reply(*found: dict) -> Reply:
    """A listing of federation policies or secrets as of an earlier moment (for world.queue)."""
    return Reply(200, {"policies": list(found)} if found else {})
