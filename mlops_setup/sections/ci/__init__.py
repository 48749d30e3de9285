"""Guide section "Configure CI/CD - GitHub Actions", one module per sub-section.

Order of the guide: prerequisites, service principals, their Unity Catalog permissions, the
GitHub Actions secrets, the repo's workflow permissions, the CI/CD bootstrap workflow; then
``ci.auth`` points the workflows at ``ci.auth_mode`` (not a section of the guide: ours).
"""

from __future__ import annotations

from invoke import Collection

from . import (
    auth,
    permissions,
    prerequisites,
    secrets,
    service_principals,
    workflow_permissions,
    workflows,
)

MODULES = (
    prerequisites,
    service_principals,
    permissions,
    secrets,
    workflow_permissions,
    workflows,
    auth,
)
STEPS = tuple(step for module in MODULES for step in module.STEPS)

ns = Collection("ci")
ns.add_task(prerequisites.prerequisites)
ns.add_task(service_principals.service_principals)
ns.add_task(permissions.permissions)
ns.add_task(secrets.secrets)
ns.add_task(workflow_permissions.workflow_permissions)
ns.add_task(workflows.workflows)
ns.add_task(auth.auth)
