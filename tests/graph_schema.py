"""The few Microsoft Graph v1.0 operations mlops-setup calls, as a small hand-written schema.

Taken from Microsoft's published OpenAPI description of Graph v1.0 (microsoftgraph/
msgraph-metadata, ``openapi/v1.0/openapi.yaml``: the ``microsoft.graph.application``,
``servicePrincipal``, ``passwordCredential`` and ``organization`` schemas, and the
``application.addPassword``/``removePassword`` actions, ``DELETE /applications/{id}``), reduced
to the properties the setup sends or reads. Not the Graph SDK's models: msgraph-sdk installs
~390 MB for them. A property not listed here is reported as unknown, so a composed body cannot
invent fields unnoticed.
"""

from __future__ import annotations

import re
from typing import Any

STR, BOOL, LIST, OBJ, NULL = str, bool, list, dict, type(None)
PASSWORD_CREDENTIAL = {
    "customKeyIdentifier": (STR, NULL),
    "displayName": (STR, NULL),
    "endDateTime": (STR, NULL),
    "hint": (STR, NULL),
    "keyId": (STR, NULL),
    "secretText": (STR, NULL),
    "startDateTime": (STR, NULL),
}
APPLICATION = {
    "@odata.context": (STR,),
    "id": (STR,),
    "appId": (STR, NULL),
    "displayName": (STR, NULL),
    "description": (STR, NULL),
    "signInAudience": (STR, NULL),
    "createdDateTime": (STR, NULL),
    "tags": (LIST,),
    "passwordCredentials": (LIST,),
}
SERVICE_PRINCIPAL = {
    "@odata.context": (STR,),
    "id": (STR,),
    "appId": (STR, NULL),
    "accountEnabled": (BOOL, NULL),
    "tags": (LIST,),
}
ORGANIZATION = {"id": (STR,), "displayName": (STR, NULL)}
DEFAULT_USER_ROLE_PERMISSIONS = {
    "allowedToCreateApps": (BOOL,),
    "allowedToCreateSecurityGroups": (BOOL,),
    "allowedToReadOtherUsers": (BOOL,),
}
AUTHORIZATION_POLICY = {
    "@odata.context": (STR,),
    "id": (STR,),
    "displayName": (STR, NULL),
    "defaultUserRolePermissions": (OBJ, DEFAULT_USER_ROLE_PERMISSIONS),
}
DIRECTORY_ROLE = {"id": (STR,), "displayName": (STR, NULL), "roleTemplateId": (STR, NULL)}
ERROR = {"error": (OBJ,)}
ERROR_DETAIL = {"code": (STR,), "message": (STR,), "innerError": (OBJ,)}


def _collection(item: dict) -> dict:
    return {"@odata.context": (STR,), "value": (LIST, item)}


OBJECT_ID = r"[0-9a-f-]{36}"
# (method, path regex, query params, request body schema, response schema)
OPERATIONS: list[tuple[str, str, set[str], dict | None, dict | None]] = [
    ("GET", r"/v1\.0/organization", {"$select"}, None, _collection(ORGANIZATION)),
    ("GET", r"/v1\.0/policies/authorizationPolicy", set(), None, AUTHORIZATION_POLICY),
    (
        "GET",
        r"/v1\.0/me/transitiveMemberOf/microsoft\.graph\.directoryRole",
        {"$select"},
        None,
        _collection(DIRECTORY_ROLE),
    ),
    ("GET", r"/v1\.0/applications", {"$filter", "$select"}, None, _collection(APPLICATION)),
    (
        "POST",
        r"/v1\.0/applications",
        set(),
        {k: APPLICATION[k] for k in ("displayName", "description", "signInAudience", "tags")},
        APPLICATION,
    ),
    (
        "GET",
        r"/v1\.0/servicePrincipals",
        {"$filter", "$select"},
        None,
        _collection(SERVICE_PRINCIPAL),
    ),
    (
        "POST",
        r"/v1\.0/servicePrincipals",
        set(),
        {"appId": (STR,), "tags": (LIST,)},
        SERVICE_PRINCIPAL,
    ),
    (
        "POST",
        rf"/v1\.0/applications/{OBJECT_ID}/addPassword",
        set(),
        {"passwordCredential": (OBJ, PASSWORD_CREDENTIAL)},
        {"@odata.context": (STR,), **PASSWORD_CREDENTIAL},
    ),
    ("POST", rf"/v1\.0/applications/{OBJECT_ID}/removePassword", set(), {"keyId": (STR,)}, None),
    # application: delete (``DELETE /applications/{id}``, 204, no body either way)
    ("DELETE", rf"/v1\.0/applications/{OBJECT_ID}", set(), None, None),
]


def _check(value: Any, schema: dict, where: str) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where}: expected an object, got {type(value).__name__}"]
    problems = []
    for key, item in value.items():
        if key not in schema:
            problems.append(f"{where}.{key}: unknown key for Microsoft Graph")
            continue
        allowed = tuple(t for t in schema[key] if isinstance(t, type))
        if not isinstance(item, allowed):
            problems.append(f"{where}.{key}: expected {allowed}, got {type(item).__name__}")
            continue
        nested = [s for s in schema[key] if isinstance(s, dict)]
        if nested and isinstance(item, dict):
            problems += _check(item, nested[0], f"{where}.{key}")
        if nested and isinstance(item, list):
            for i, element in enumerate(item):
                problems += _check(element, nested[0], f"{where}.{key}[{i}]")
    return problems


def check(
    method: str, path: str, query: dict[str, list[str]], request: Any, status: int, response: Any
) -> list[str]:
    """Problems of one Graph exchange (parsed JSON bodies; None when there is none)."""
    for op_method, pattern, params, req_schema, resp_schema in OPERATIONS:
        if op_method != method or not re.fullmatch(pattern, path):
            continue
        problems = [f"query parameter {q} not in the operation" for q in query if q not in params]
        if req_schema is not None:
            problems += _check(request, req_schema, "request")
        if status >= 400:
            if response is not None:
                problems += _check(response, ERROR, "response")
                problems += _check(response.get("error"), ERROR_DETAIL, "response.error")
        elif resp_schema is None:
            if response not in (None, ""):
                problems.append("response: expected no body")
        elif status != 204:
            problems += _check(response, resp_schema, "response")
        return problems
    return [f"unmapped Microsoft Graph operation {method} {path}"]
