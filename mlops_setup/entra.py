"""Microsoft Entra ID through Microsoft Graph v1.0: the Azure path only.

The template's Azure workflows log in with ``ARM_TENANT_ID``/``ARM_CLIENT_ID``/
``ARM_CLIENT_SECRET``: the principal CI runs as is an Entra ID application. Per environment this
module finds or makes an app registration and its service principal, and adds or removes the
app's client secrets (``passwordCredentials``).

Client: ``azure-identity`` for the login (its standard chain: environment, managed identity,
Azure CLI login, ...) and plain REST over ``requests`` (already loaded by databricks-sdk and
PyGithub) for the six Graph calls used. ``msgraph-sdk`` was measured and not chosen (see the
README, "Azure"): it imports Kiota and hundreds of generated model modules for six calls.
Nothing here is imported unless ``databricks.cloud`` is ``azure``.

Found again by display name and the tag :data:`TAG`: an app of that name without our tag is
someone else's and is never used or changed. Graph answers 429 (and 503) with ``Retry-After``;
reads and 429s are retried within a bound, a create that failed with a 5xx is never repeated
blindly (the caller reads back, as ``ci.service-principals`` does for Databricks SPs).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

GRAPH = "https://graph.microsoft.com/v1.0"
SCOPE = "https://graph.microsoft.com/.default"
TAG = "mlops-setup"
MAX_RETRIES = 4
APP_FIELDS = "id,appId,displayName,tags,passwordCredentials"
# Directory roles that may register applications when users may not (authorizationPolicy).
APP_ROLES = (
    "Application Developer",
    "Application Administrator",
    "Cloud Application Administrator",
    "Global Administrator",
)
ENTRA_RIGHT = (
    "the Entra ID role Application Developer (or Application Administrator / Cloud "
    "Application Administrator), or the Graph permission Application.ReadWrite.OwnedBy"
)


class GraphError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}" if code else f"{status} {message}")
        self.status, self.code, self.message = status, code, message


class StaticCredential:
    """A credential holding one bearer token: for the demo and the tests (the token is a
    stand-in; recordings drop the Authorization header)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(token=self.token, expires_on=int(time.time()) + 3600)


def default_credential() -> Any:
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(exclude_interactive_browser_credential=True)


@dataclass(frozen=True)
class App:
    """An app registration: ``id`` (object id, for addPassword), ``app_id`` (client id)."""

    id: str
    app_id: str
    display_name: str
    tags: tuple[str, ...]
    passwords: tuple[dict, ...]

    @classmethod
    def from_graph(cls, body: dict) -> App:
        return cls(
            body["id"],
            body["appId"],
            body.get("displayName") or "",
            tuple(body.get("tags") or ()),
            tuple(body.get("passwordCredentials") or ()),
        )

    @property
    def ours(self) -> bool:
        return TAG in self.tags


def quote(value: str) -> str:
    """An OData string literal."""
    return "'" + value.replace("'", "''") + "'"


class Graph:
    """The few Graph v1.0 calls the setup makes, with bounded retries of 429/503."""

    def __init__(self, credential: Any, sleep: Callable[[float], None], base: str = GRAPH) -> None:
        import requests

        self.credential, self.sleep, self.base = credential, sleep, base.rstrip("/")
        self.http = requests.Session()
        self._token: Any = None

    def _bearer(self) -> str:
        if self._token is None or self._token.expires_on - 60 < time.time():
            self._token = self.credential.get_token(SCOPE)
        return self._token.token

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: Any = None,
        retry_5xx: bool | None = None,
    ) -> Any:
        """One Graph call; 429 always retried (nothing was done), 503/504 only for reads
        unless ``retry_5xx``; at most :data:`MAX_RETRIES` waits, each ``Retry-After`` long."""
        if retry_5xx is None:
            retry_5xx = method == "GET"
        for attempt in range(MAX_RETRIES + 1):
            resp = self.http.request(
                method,
                self.base + path,
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {self._bearer()}", "Accept": "application/json"},
                timeout=60,
            )
            busy = resp.status_code == 429 or (retry_5xx and resp.status_code in (503, 504))
            if busy and attempt < MAX_RETRIES:
                self.sleep(_retry_after(resp.headers.get("Retry-After"), attempt))
                continue
            if resp.status_code >= 400:
                raise _error(resp)
            return resp.json() if resp.content else None
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------------------ reads
    def tenant_id(self) -> str:
        found = self.request("GET", "/organization", params={"$select": "id"})
        return found["value"][0]["id"]

    def apps_named(self, display_name: str) -> list[App]:
        found = self.request(
            "GET",
            "/applications",
            params={"$filter": f"displayName eq {quote(display_name)}", "$select": APP_FIELDS},
        )
        return [App.from_graph(a) for a in found.get("value", [])]

    def app_by_app_id(self, app_id: str) -> App | None:
        found = self.request(
            "GET",
            "/applications",
            params={"$filter": f"appId eq {quote(app_id)}", "$select": APP_FIELDS},
        )
        apps = [App.from_graph(a) for a in found.get("value", [])]
        return apps[0] if apps else None

    def sp_of(self, app_id: str) -> dict | None:
        found = self.request(
            "GET",
            "/servicePrincipals",
            params={"$filter": f"appId eq {quote(app_id)}", "$select": "id,appId,accountEnabled"},
        )
        sps = found.get("value", [])
        return sps[0] if sps else None

    def users_may_register_apps(self) -> bool:
        """The tenant's authorization policy: may any user register applications?"""
        found = self.request("GET", "/policies/authorizationPolicy")
        return bool((found.get("defaultUserRolePermissions") or {}).get("allowedToCreateApps"))

    def my_directory_roles(self) -> list[str]:
        """Display names of the directory roles the signed-in user holds (also through
        groups); a 400 from Graph means the login is an application, not a user."""
        found = self.request(
            "GET",
            "/me/transitiveMemberOf/microsoft.graph.directoryRole",
            params={"$select": "displayName,roleTemplateId"},
        )
        return [r.get("displayName") or "" for r in found.get("value", [])]

    # ----------------------------------------------------------------------------- writes
    def create_app(self, display_name: str, description: str) -> App:
        body = {
            "displayName": display_name,
            "description": description,
            "signInAudience": "AzureADMyOrg",
            "tags": [TAG],
        }
        return App.from_graph(self.request("POST", "/applications", body=body))

    def create_sp(self, app_id: str) -> dict:
        return self.request("POST", "/servicePrincipals", body={"appId": app_id, "tags": [TAG]})

    def add_password(self, object_id: str, display_name: str, end: str) -> dict:
        body = {"passwordCredential": {"displayName": display_name, "endDateTime": end}}
        return self.request("POST", f"/applications/{object_id}/addPassword", body=body)

    def delete_app(self, object_id: str) -> None:
        """``DELETE /applications/{id}`` (204). Graph v1.0 reference, "Delete application":
        the app goes to the tenant's deleted items, restorable for 30 days; its service
        principal in the home tenant goes with it. A 5xx is not retried (the caller reads back)."""
        self.request("DELETE", f"/applications/{object_id}")

    def remove_password(self, object_id: str, key_id: str) -> None:
        self.request(
            "POST",
            f"/applications/{object_id}/removePassword",
            body={"keyId": key_id},
            retry_5xx=True,  # removing twice is harmless
        )


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        return max(0.0, min(float(header or ""), 300.0))
    except ValueError:
        return float(2**attempt)


def _error(resp: Any) -> GraphError:
    try:
        err = resp.json().get("error") or {}
    except ValueError:
        err = {}
    return GraphError(resp.status_code, err.get("code") or "", err.get("message") or resp.reason)
