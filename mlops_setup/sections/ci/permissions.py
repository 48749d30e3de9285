"""ci.permissions: the guide's "Configure Service Principal (SP) permissions" (Unity Catalog).

For each deployment target (staging and prod in their workspaces; test in the staging workspace,
with the staging SP):

* the target's catalog (``unity_catalog.catalogs``) exists; a missing one is created when
  ``unity_catalog.create_missing`` allows it (a refusal names the right to ask for);
* the schema (``unity_catalog.schema``) exists, created if missing;
* the SP, by application id, holds USE_CATALOG, USE_SCHEMA, MODIFY, CREATE_MODEL and CREATE_TABLE
  on the catalog (``grant_on: catalog``) or USE_CATALOG on the catalog and the rest on the schema
  (``grant_on: schema``); SELECT on the batch inference input table and MODIFY on the output
  table when they exist, with a warning naming each one that does not.

Grants are additive only: the current grants are read, only what is missing is added, ``remove``
is never sent, and other principals' grants are never touched. ALL_PRIVILEGES counts as holding
everything. Creations come before grants, so a refused creation stops the step before any grant
is made. Right after an SP is created Unity Catalog may not know it yet ("Could not find
principal"): that error, and only that one, is retried with bounded backoff
(``databricks.sp_visible_timeout``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from invoke import task

from ... import ENVIRONMENTS
from ...backoff import WaitTimeout
from ...changes import Plan, SetupError, bare_input_key
from ...databricks_util import (
    PAGE_PERMISSIONS,
    ApiErrors,
    ServicePrincipalInfo,
    find_service_principal,
    is_principal_missing,
    login_rejected,
)
from ...session import DRY_RUN_HELP, Session, Step, run_step

PAGE = PAGE_PERMISSIONS
# Deployment target -> the environment (workspace and SP) it deploys with.
TARGETS = {"staging": "staging", "prod": "prod", "test": "staging"}
PRIVILEGES = ("USE_CATALOG", "USE_SCHEMA", "MODIFY", "CREATE_MODEL", "CREATE_TABLE")
ALL_PRIVILEGES = "ALL_PRIVILEGES"
BATCH_TABLES = (("input_table", "input", "SELECT"), ("output_table", "output", "MODIFY"))


@dataclass(frozen=True)
class Securable:
    env: str  # the workspace it is reached through
    kind: str  # "catalog", "schema" or "table": the SDK takes plain strings
    name: str  # full name


def plan_permissions(session: Session, dry_run: bool = False) -> Plan:
    settings = session.settings
    uc = settings.unity_catalog
    plan = Plan("ci.permissions")
    sps = _service_principals(session, plan, dry_run)
    catalogs: list[tuple[str, Any, str]] = []
    schemas: list[tuple[str, Any, str]] = []
    grants: list[tuple[Securable, tuple[str, ...]]] = []
    planned: set[Securable] = set()  # catalogs and schemas this plan creates
    tables_missing: list[str] = []
    # (label, name, privilege, config key or "") -> targets
    unqualified: dict[tuple[str, str, str, str], list[str]] = {}
    for target, env in TARGETS.items():
        catalog = settings.catalog(target)
        cat = Securable(env, "catalog", catalog)
        sch = Securable(env, "schema", f"{catalog}.{uc.schema_}") if uc.schema_ else None
        if cat not in planned and not _exists(session, cat):
            if not uc.create_missing:
                raise SetupError(
                    f"catalog {catalog} (target {target}) does not exist in workspace {env}",
                    fix=f"have it created (`CREATE CATALOG {catalog}`), set "
                    "unity_catalog.create_missing: true, or point "
                    f"unity_catalog.catalogs.{target} at an existing catalog",
                    page=PAGE,
                )
            planned.add(cat)
            detail = f"workspace {env}" + (f", {uc.storage_root}" if uc.storage_root else "")
            catalogs.append((f"catalog {catalog}", _create_catalog(session, cat, target), detail))
        if sch is not None and sch not in planned and not _exists(session, sch, planned):
            planned.add(sch)
            schemas.append((f"schema {sch.name}", _create_schema(session, sch), f"workspace {env}"))
        if uc.grant_on == "catalog" or sch is None:
            wanted = [(cat, PRIVILEGES)]
        else:  # USE_CATALOG only exists on catalogs
            wanted = [(cat, PRIVILEGES[:1]), (sch, PRIVILEGES[1:])]
        tables, missing = _batch_tables(session, target, env, planned, unqualified)
        for table_name, _label, privilege in missing:
            tables_missing.append(f"{privilege} on {table_name}")
        tables = _with_parents(session, tables, wanted, planned)
        # test shares the staging workspace and SP: the same securable is granted once
        grants += [grant for grant in [*wanted, *tables] if grant not in grants]
    resources = settings.model.batch_resource()
    for (label, table_name, privilege, key), targets in unqualified.items():  # one line for all
        where = (  # the config's value wins over the project's file: editing that does nothing
            f"set {key}, which the config sets (it wins over {resources})"
            if key
            else f"set it in {resources}"
        )
        said = f"batch {label} table {table_name!r} ({', '.join(targets)})"
        plan.warn(
            f"{said} is not a full catalog.schema.table name: {privilege} not granted; {where}",
            once=bare_input_key(table_name, key or resources) if label == "input" else "",
            again=f"{said}: {privilege} not granted, see above",
        )
    if tables_missing:
        plan.warn("batch tables do not exist yet, not granted: " + ", ".join(tables_missing))
        plan.note("once the batch inference tables exist, run `invoke ci.permissions` again")
    for what, apply, detail in catalogs + schemas:  # creations first: a refusal grants nothing
        plan.add("create", what, apply, detail=detail)
    for securable, privileges in grants:
        _plan_grant(session, plan, securable, privileges, sps[securable.env], planned)
    return plan


def _with_parents(
    session: Session,
    tables: list[tuple[Securable, tuple[str, ...]]],
    wanted: list[tuple[Securable, tuple[str, ...]]],
    planned: set[Securable],
) -> list[tuple[Securable, tuple[str, ...]]]:
    """The table grants, each preceded by USE_CATALOG/USE_SCHEMA on its catalog and schema
    (the guide asks for them), unless the project's own grants already give them."""
    out: list[tuple[Securable, tuple[str, ...]]] = []
    covered = {(sec.kind, sec.name, p) for sec, privs in wanted for p in privs}
    for table, privileges in tables:
        catalog, schema, _ = table.name.split(".")
        on_catalog = ("catalog", catalog, "USE_SCHEMA") in covered
        parents = [
            (Securable(table.env, "catalog", catalog), "USE_CATALOG"),
            (Securable(table.env, "schema", f"{catalog}.{schema}"), "USE_SCHEMA"),
        ]
        for parent, privilege in parents:
            if (parent.kind, parent.name, privilege) in covered or (
                privilege == "USE_SCHEMA" and on_catalog
            ):
                continue
            if _exists(session, parent, planned):
                out.append((parent, (privilege,)))
                covered.add((parent.kind, parent.name, privilege))
        out.append((table, privileges))
    return out


def _service_principals(
    session: Session, plan: Plan, dry_run: bool
) -> dict[str, ServicePrincipalInfo | None]:
    """Each environment's SP; a dry run may go on without them (ci.service-principals makes
    them), an apply may not."""
    sps: dict[str, ServicePrincipalInfo | None] = {}
    found: list[str] = []
    for env in ENVIRONMENTS:
        sps[env] = sp = find_service_principal(session, env)
        name = sp.display_name if sp is not None else session.settings.sp_name(env)
        if sp is not None:
            found.append(name)
        elif dry_run:
            plan.note(f"SP {name} does not exist yet: ci.service-principals creates it")
        else:
            raise SetupError(
                f"SP {name} does not exist yet",
                fix="run `invoke ci.service-principals` first",
                page=PAGE,
            )
    if found:  # their application ids: ci.service-principals shows them
        plan.keep(f"{'SPs' if len(found) > 1 else 'SP'} {' and '.join(found)} exist")
    return sps


def _batch_tables(
    session: Session,
    target: str,
    env: str,
    planned: set[Securable],
    unqualified: dict[tuple[str, str, str, str], list[str]],
) -> tuple[list[tuple[Securable, tuple[str, ...]]], list[tuple[str, str, str]]]:
    """(grants on the batch inference tables that exist, (name, label, privilege) of those
    that do not). The tables are the batch inference job's own parameters (or the override);
    one that is not a full catalog.schema.table name gets no grant, and its staging or prod
    target goes into ``unqualified`` (the step warns once per name, naming the targets, and
    the config's setting when the config names the table)."""
    grants, missing = [], []
    for key, label, privilege in BATCH_TABLES:
        table_name = session.settings.batch_table(key, target)
        if not table_name:
            continue
        if len(table_name.split(".")) != 3 or not all(table_name.split(".")):
            if target in ("staging", "prod"):
                configured = getattr(session.settings.unity_catalog.batch_inference, key)
                setting = f"unity_catalog.batch_inference.{key}" if configured else ""
                unqualified.setdefault((label, table_name, privilege, setting), []).append(target)
            continue
        table = Securable(env, "table", table_name)
        if _exists(session, table, planned):
            grants.append((table, (privilege,)))
        else:
            missing.append((table_name, label, privilege))
    return grants, missing


# ------------------------------------------------------------------------------- reading


def _exists(session: Session, securable: Securable, planned: Any = frozenset()) -> bool:
    """Whether the catalog, schema or table exists (cached). Inside a catalog or schema that
    does not exist, or is only ``planned``, nothing exists: no request is made for it."""
    if securable in planned:
        return False
    parts = securable.name.split(".")
    parents = [Securable(securable.env, "catalog", parts[0])] if len(parts) > 1 else []
    if len(parts) > 2:
        parents.append(Securable(securable.env, "schema", ".".join(parts[:2])))
    if any(not _exists(session, parent, planned) for parent in parents):
        return False

    def load() -> bool:
        from databricks.sdk.errors import NotFound

        w = session.clients.workspace(securable.env)
        api = {"catalog": w.catalogs, "schema": w.schemas, "table": w.tables}[securable.kind]
        with ApiErrors(
            session,
            securable.env,
            f"reading {securable.kind} {securable.name}",
            denied_fix=f"ask the owner of {securable.kind} {securable.name} (or a metastore "
            "admin) for USE and MANAGE on it",
            page=PAGE,
        ):
            try:
                if securable.kind == "table":
                    return bool(api.exists(securable.name).table_exists)
                api.get(securable.name)
            except NotFound:
                return False
        return True

    return session.cached(f"databricks.uc.{securable.env}.{securable.kind}.{securable.name}", load)


def _privileges(session: Session, securable: Securable, principal: str) -> set[str]:
    """The privileges ``principal`` holds directly on ``securable`` (grants read once, cached)."""

    def load() -> dict[str, set[str]]:
        w = session.clients.workspace(securable.env)
        held: dict[str, set[str]] = {}
        token = None
        with ApiErrors(
            session,
            securable.env,
            f"reading the grants on {securable.kind} {securable.name}",
            denied_fix=f"ask the owner of {securable.kind} {securable.name} for MANAGE on it",
            page=PAGE,
        ):
            while True:
                page = w.grants.get(securable.kind, securable.name, max_results=0, page_token=token)
                for assignment in page.privilege_assignments or []:
                    held.setdefault(assignment.principal or "", set()).update(
                        p.value for p in assignment.privileges or []
                    )
                token = page.next_page_token
                if not token:
                    return held

    key = f"databricks.grants.{securable.env}.{securable.kind}.{securable.name}"
    return session.cached(key, load).get(principal, set())


# ---------------------------------------------------------------------------------- grants


def _plan_grant(
    session: Session,
    plan: Plan,
    securable: Securable,
    privileges: tuple[str, ...],
    sp: ServicePrincipalInfo | None,
    planned: set[Securable],
) -> None:
    env = securable.env  # the SP of the workspace's environment
    name = sp.display_name if sp is not None else session.settings.sp_name(env)
    if sp is None or sp.created or securable in planned:
        held: set[str] = set()  # nothing can be granted yet to what does not exist yet
    else:
        held = _privileges(session, securable, sp.application_id)
    missing = [] if ALL_PRIVILEGES in held else [p for p in privileges if p not in held]
    on = f"{securable.kind} {securable.name}"
    if not missing:
        through = " (ALL_PRIVILEGES)" if ALL_PRIVILEGES in held else ""
        plan.keep(f"SP {name} has {', '.join(privileges)} on {on}{through}")
        return
    detail = "application id known after creation" if sp is None else ""

    def grant() -> list[str]:
        info = find_service_principal(session, env)
        assert info is not None  # the plan refuses to apply before the SP exists
        _grant(session, securable, info, missing)
        return missing

    plan.add("grant", f"{', '.join(missing)} on {on} to SP {name}", grant, detail=detail)


def _grant(
    session: Session, securable: Securable, sp: ServicePrincipalInfo, privileges: list[str]
) -> None:
    from databricks.sdk.errors import DatabricksError
    from databricks.sdk.service import catalog

    w = session.clients.workspace(securable.env)
    on = f"{securable.kind} {securable.name}"
    change = catalog.PermissionsChange(
        principal=sp.application_id, add=[catalog.Privilege(p) for p in privileges]
    )

    def granted() -> bool | None:
        """Read afresh: does the SP hold every privilege asked for?"""
        key = f"databricks.grants.{securable.env}.{securable.kind}.{securable.name}"
        session.cache.pop(key, None)
        held = _privileges(session, securable, sp.application_id)
        return True if set(privileges) <= held else None

    def attempt() -> bool | None:
        from ...lost import confirm

        with ApiErrors(
            session,
            securable.env,
            f"granting {', '.join(privileges)} on {on}",
            denied_fix=f"ask the owner of {on} (or a metastore admin) to grant "
            f"{', '.join(privileges)} to application id {sp.application_id}, or to give you "
            "MANAGE on it",
            page=PAGE,
        ):
            try:
                confirm(
                    lambda: w.grants.update(securable.kind, securable.name, changes=[change]),
                    granted,
                    f"granting {', '.join(privileges)} on {on}",
                    fix="run `invoke ci.permissions` again: it reads the grants first",
                    page=PAGE,
                    note=session.out.note,
                )
            except DatabricksError as exc:
                if is_principal_missing(exc):
                    return None  # a just-created SP Unity Catalog does not know yet
                raise
        record_grant(session, securable, sp, privileges)
        return True

    def waiting(attempt_no: int, delay: float) -> None:
        session.out.wait(f"SP {sp.display_name} in Unity Catalog", "not known yet", next_in=delay)

    timeout = session.settings.databricks.sp_visible_timeout
    try:
        session.backoff(timeout=timeout, first=1).until(
            attempt, f"SP {sp.display_name} in Unity Catalog", on_wait=waiting
        )
    except WaitTimeout as exc:
        raise SetupError(
            f"Unity Catalog still does not know SP {sp.display_name} (application id "
            f"{sp.application_id}) after {exc.waited:.0f}s; nothing was granted on {on}",
            fix=f"check that the SP is assigned to workspace {securable.env} "
            "(`invoke ci.service-principals`), wait a few minutes and run again",
            page=PAGE,
        ) from None


def grant_id(securable: Securable, principal: str) -> str:
    return f"{securable.env}:{securable.kind}:{securable.name}:{principal}"


def record_grant(
    session: Session, securable: Securable, sp: ServicePrincipalInfo, privileges: list[str]
) -> None:
    """Journal the privileges this step added (only those: what the SP held before was not
    ours), so ``setup.destroy`` revokes exactly them and never a grant someone else made."""
    ident = grant_id(securable, sp.application_id)
    held = list((session.journal.made_record("grant", ident) or {}).get("privileges", []))
    session.journal.made(
        "grant",
        ident,
        env=securable.env,
        securable_type=securable.kind,
        full_name=securable.name,
        principal=sp.application_id,
        display_name=sp.display_name,
        privileges=[*held, *(p for p in privileges if p not in held)],
    )


# ------------------------------------------------------------------------------- creating


def _create_catalog(session: Session, securable: Securable, target: str) -> Any:
    def create() -> None:
        from databricks.sdk.errors import BadRequest, PermissionDenied

        from ...lost import confirm

        uc = session.settings.unity_catalog
        w = session.clients.workspace(securable.env)
        kwargs: dict[str, Any] = {"name": securable.name, "comment": _comment(session)}
        if uc.storage_root:
            kwargs["storage_root"] = uc.storage_root
        with ApiErrors(session, securable.env, f"creating catalog {securable.name}", page=PAGE):
            try:
                confirm(
                    lambda: w.catalogs.create(**kwargs),
                    lambda: _found(lambda: w.catalogs.get(securable.name)),
                    f"creating catalog {securable.name}",
                    fix="run `invoke ci.permissions` again: it looks for the catalog first",
                    page=PAGE,
                    note=session.out.note,
                )
            except PermissionDenied as exc:
                if login_rejected(exc):
                    raise  # an expired login, not a missing right: ApiErrors explains it
                raise SetupError(
                    f"you may not create catalog {securable.name} (403, workspace "
                    f"{securable.env}); nothing was granted",
                    fix=f"ask a metastore admin to run `CREATE CATALOG {securable.name}` or "
                    "`GRANT CREATE CATALOG ON METASTORE TO <you>`; or set "
                    f"unity_catalog.catalogs.{target} to an existing catalog",
                    page=PAGE,
                ) from None
            except BadRequest as exc:
                if "storage" not in str(exc).lower():
                    raise
                raise SetupError(
                    f"catalog {securable.name} needs a storage location: "
                    f"{str(exc).splitlines()[0]}",
                    fix="set unity_catalog.storage_root to a cloud storage URL the metastore "
                    "can use (an external location)",
                    page=PAGE,
                ) from None
        _created(session, securable)

    return create


def _create_schema(session: Session, securable: Securable) -> Any:
    def create() -> None:
        from ...lost import confirm

        catalog_name, schema_name = securable.name.split(".", 1)
        w = session.clients.workspace(securable.env)
        with ApiErrors(
            session,
            securable.env,
            f"creating schema {securable.name}",
            denied_fix=f"ask the owner of catalog {catalog_name} to grant you USE CATALOG and "
            f"CREATE SCHEMA on it, or to create schema {securable.name}",
            page=PAGE,
        ):
            confirm(
                lambda: w.schemas.create(
                    name=schema_name, catalog_name=catalog_name, comment=_comment(session)
                ),
                lambda: _found(lambda: w.schemas.get(securable.name)),
                f"creating schema {securable.name}",
                fix="run `invoke ci.permissions` again: it looks for the schema first",
                page=PAGE,
                note=session.out.note,
            )
        _created(session, securable)

    return create


def _found(read: Any) -> bool | None:
    """True if ``read()`` finds the object, None if it says NotFound."""
    from databricks.sdk.errors import NotFound

    try:
        read()
    except NotFound:
        return None
    return True


def _created(session: Session, securable: Securable) -> None:
    # kept by setup.destroy (it may hold the project's data); journaled so it can say so
    session.journal.made(securable.kind, f"{securable.env}:{securable.name}", env=securable.env)
    session.cache[f"databricks.uc.{securable.env}.{securable.kind}.{securable.name}"] = True
    session.cache[f"databricks.grants.{securable.env}.{securable.kind}.{securable.name}"] = {}


def _comment(session: Session) -> str:
    s = session.settings
    return f"MLOps Stacks project {s.project.name or s.github.repo} (made by mlops-setup)"


# ------------------------------------------------------------------------------------ tasks

STEP = Step("ci.permissions", "Unity Catalog grants for the service principals", plan_permissions)
STEPS = (STEP,)


@task(name="permissions", help={"dry_run": DRY_RUN_HELP})
def permissions(c, dry_run=False):
    """Create missing catalogs/schemas, grant the SPs their Unity Catalog rights."""
    run_step(c, STEP, dry_run=dry_run)
