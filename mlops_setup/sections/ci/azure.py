"""The Azure branch of ci.service-principals: an Entra ID application per environment.

On Azure the principal CI logs in as (``ARM_CLIENT_ID``/``ARM_CLIENT_SECRET``) is an Entra ID
application, so the Databricks SP that gets the grants must be that application's ("Entra ID
managed": created in the account with ``applicationId`` = the app's client id). Per environment:

* the app registration, found by its display name (``databricks.service_principals.<env>``)
  and the tag ``mlops-setup``; created with that tag when missing, then its service principal
  in the tenant (``POST /servicePrincipals``; a new app can be unknown to it for a few seconds,
  so that create is retried with bounded backoff on 404/400 "not found");
* a create whose answer was lost (5xx, timeout) is resolved by reading back by name and tag:
  found, it is used; not found, the step stops and a re-run looks first. Never a second app;
* an app of that name without our tag is someone else's: never used, never changed;
* linked (``{application_id: <client id>}``): the app and its tenant SP must exist; nothing in
  Entra ID is created or changed for it, and it needs no tag.

Graph calls go through :mod:`mlops_setup.entra`, imported only here and in ``ci.secrets``'s
Azure branch.
"""

from __future__ import annotations

from typing import Any

from ...changes import Plan, SetupError

PAGE = "ci.md#service-principals"
SP_LAG_TIMEOUT = 60  # seconds to wait for a new app to be known to POST /servicePrincipals


def is_azure(session: Any) -> bool:
    return session.settings.databricks.cloud == "azure"


def graph_errors(doing: str, *, denied: str = "", page: str = PAGE) -> Any:
    """A context manager turning Graph errors into a SetupError naming the Entra right; ``page``:
    the runbook page of the step that was at work (the destroy's is its own)."""
    import contextlib

    from ...entra import ENTRA_RIGHT, GraphError

    @contextlib.contextmanager
    def handler():
        try:
            yield
        except GraphError as exc:
            if exc.status in (401,):
                raise SetupError(
                    f"Microsoft Graph rejected the login while {doing} (401)",
                    fix="log in again (`az login`, or AZURE_* variables for a service "
                    "principal), then run again",
                    page="index.md#authentication",
                ) from None
            if exc.status == 403:
                raise SetupError(
                    f"Microsoft Entra ID refused {doing} (403 {exc.code})",
                    fix=denied or f"ask a Global Administrator for {ENTRA_RIGHT}",
                    page=page,
                ) from None
            raise SetupError(
                f"Microsoft Graph failed while {doing}: {exc}",
                fix="run again; https://status.cloud.microsoft shows outages",
                page=page,
            ) from None

    return handler()


def entra_app(session: Any, env: str) -> Any:
    """``env``'s Entra app (an :class:`~mlops_setup.entra.App`), or None (cached)."""

    def load() -> Any:
        settings = session.settings
        linked = settings.sp_linked(env)
        g = session.clients.graph
        if linked:
            with graph_errors("looking up a linked Entra ID application"):
                app = g.app_by_app_id(linked)
            if app is None:
                raise SetupError(
                    f"the linked Entra ID application {linked} (databricks.service_principals."
                    f"{env}) does not exist in the tenant; a linked app is never created",
                    fix="check the client id (Entra ID > App registrations) with whoever "
                    "created the app",
                    page=PAGE,
                )
            return app
        name = settings.sp_name(env)
        with graph_errors("listing Entra ID applications"):
            apps = g.apps_named(name)
        ours = [a for a in apps if a.ours and a.display_name == name]
        if len(ours) > 1:
            from ...databricks_util import DetailedError

            raise DetailedError(
                f"{len(ours)} Entra ID applications are named {name} and tagged mlops-setup:",
                [f"  - object id {a.id}, client id {a.app_id}" for a in ours],
                fix="delete the extra ones (Entra ID > App registrations), or link the right one "
                f"with databricks.service_principals.{env}: {{application_id: <client id>}}",
                page=PAGE,
            )
        if not ours and apps:
            raise SetupError(
                f"an Entra ID application named {name} exists but was not made by mlops-setup "
                "(no mlops-setup tag): it is left alone",
                fix=f"link it with databricks.service_principals.{env}: {{application_id: "
                f"{apps[0].app_id}}}, or name ours differently",
                page=PAGE,
            )
        return ours[0] if ours else None

    return session.cached(f"entra.app.{env}", load)


def app_id(session: Any, env: str) -> str:
    """The client id of ``env``'s app at apply time (made by an earlier change, if new)."""
    app = entra_app(session, env)
    assert app is not None, "the Entra app is created by the change before this one"
    return app.app_id


def plan_app(session: Any, plan: Plan, env: str) -> None:
    """Changes for ``env``'s Entra app and its service principal in the tenant."""
    settings = session.settings
    app = entra_app(session, env)
    if settings.sp_linked(env):
        with graph_errors("looking up the service principal of a linked application"):
            sp = session.clients.graph.sp_of(app.app_id)
        if sp is None:
            raise SetupError(
                f"the linked Entra ID application {app.display_name} ({app.app_id}) has no "
                "service principal in the tenant; a linked app is never changed",
                fix="ask its owner to create it (Entra ID > Enterprise applications, or `az ad "
                f"sp create --id {app.app_id}`)",
                page=PAGE,
            )
        plan.keep(
            f"Entra app {app.display_name} is linked (client id {app.app_id}): checked, not "
            "created or changed"
        )
        return
    name = settings.sp_name(env)
    if app is None:
        plan.add("create", f"Entra app {name}", _app_creator(session, plan, env), detail="tagged")
        plan.add("create", f"Entra SP of app {name}", _sp_creator(session, env))
        return
    with graph_errors("looking up the service principal of an application"):
        sp = session.clients.graph.sp_of(app.app_id)
    plan.keep(f"Entra app {name} exists (client id {app.app_id})")
    if sp is None:
        plan.add("create", f"Entra SP of app {name}", _sp_creator(session, env))


def _app_creator(session: Any, plan: Plan, env: str) -> Any:
    def create() -> None:
        import requests

        from ...entra import GraphError

        name = session.settings.sp_name(env)
        description = f"CI/CD of {session.settings.github.full_name} ({env}), made by mlops-setup"
        try:
            with graph_errors(
                f"creating Entra app {name}",
                denied="ask a Global Administrator for the Entra ID role Application Developer "
                "(users may not register applications in this tenant)",
            ):
                try:
                    app = session.clients.graph.create_app(name, description)
                except GraphError as exc:
                    if exc.status < 500:
                        raise
                    raise _Ambiguous(str(exc)) from None
                except (requests.ConnectionError, requests.Timeout) as exc:
                    raise _Ambiguous(type(exc).__name__) from None
        except _Ambiguous as lost:
            session.cache.pop(f"entra.app.{env}", None)
            app = entra_app(session, env)
            if app is None:
                raise SetupError(
                    f"creating Entra app {name} failed ({lost}) and no such app is listed (yet); "
                    "the create may still have been carried out",
                    fix="run `invoke ci.service-principals` again: it looks the app up by name "
                    "and tag first and creates no second one",
                    page=PAGE,
                ) from None
            plan.note(f"Entra app {name}: the create failed ({lost}), but the app was made")
        session.cache[f"entra.app.{env}"] = app
        record_app(session, env, app)
        plan.note(f"Entra app {name}: client id {app.app_id}")

    return create


class _Ambiguous(Exception):
    pass


def record_app(session: Any, env: str, app: Any) -> None:
    """Journal an Entra app this step created (its object id and client id, never a secret):
    ``setup.destroy`` deletes only apps recorded so, never a linked one."""
    session.journal.made(
        "entra_app", app.id, env=env, app_id=app.app_id, display_name=app.display_name
    )


def record_sp(session: Any, env: str, client_id: str, sp: Any) -> None:
    """Journal an Entra service principal this step created, by its app's client id (deleting
    the app deletes it too; ``setup.destroy`` says so of one whose app it does not delete)."""
    sp_id = (sp or {}).get("id", "") if isinstance(sp, dict) else ""
    session.journal.made(
        "entra_sp",
        client_id,
        env=env,
        sp_id=sp_id,
        display_name=session.settings.sp_name(env),
    )


def _sp_creator(session: Any, env: str) -> Any:
    def create() -> None:
        from ...backoff import WaitTimeout
        from ...entra import GraphError

        client_id = app_id(session, env)
        name = session.settings.sp_name(env)
        g = session.clients.graph

        def attempt() -> bool | None:
            try:
                with graph_errors(f"creating the Entra SP of app {name}"):
                    try:
                        record_sp(session, env, client_id, g.create_sp(client_id))
                    except GraphError as exc:
                        if exc.status in (400, 404) and "not" in exc.message.lower():
                            return None  # the new app is not replicated yet
                        if exc.status == 409:
                            return True  # made already
                        raise
            except SetupError:
                raise
            return True

        try:
            session.backoff(timeout=SP_LAG_TIMEOUT, first=1).until(
                attempt, f"Entra app {name} known to the tenant"
            )
        except WaitTimeout:
            raise SetupError(
                f"Entra app {name} ({client_id}) was created, but its service principal could "
                f"not be made within {SP_LAG_TIMEOUT}s (the app is not replicated yet)",
                fix="run `invoke ci.service-principals` again in a minute",
                page=PAGE,
            ) from None

    return create


def check_databricks_sp(session: Any, env: str, sp: Any) -> None:
    """On Azure the Databricks SP must be the Entra app's: a Databricks-managed SP of the same
    name would log in as nobody CI can be."""
    app = entra_app(session, env)
    if sp is None or app is None or sp.application_id == app.app_id:
        return
    raise SetupError(
        f"SP {sp.display_name} in Databricks has application id {sp.application_id}, but the "
        f"Entra app {app.display_name} has client id {app.app_id}: CI would log in as a "
        "principal that holds none of the grants",
        fix="delete or rename the Databricks SP (it is Databricks-managed), then run again; "
        "or link the app whose client id it has",
        page=PAGE,
    )
