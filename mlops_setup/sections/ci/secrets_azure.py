"""ci.secrets on Azure: client secrets of the Entra ID apps, and the six ``*_AZURE_SP_*`` secrets.

The template's Azure workflows read ``{STAGING,PROD}_AZURE_SP_TENANT_ID``,
``..._APPLICATION_ID`` and ``..._CLIENT_SECRET`` (as ``ARM_TENANT_ID``/``ARM_CLIENT_ID``/
``ARM_CLIENT_SECRET``), and ``WORKFLOW_TOKEN``. The client secret is minted with Graph's
``addPassword`` on the environment's app (``ci.service-principals`` made or linked it), with
``endDateTime`` = now + ``secrets.token_lifetime_days`` and a ``displayName`` naming the tool, the
repo and the environment: that name is how a later run knows the secrets of ours among the app's
``passwordCredentials`` (a linked app's other secrets are never touched).

The guarantees are those of the workspace-token path (:mod:`.secrets`), with the same journal
entry: the value lives only in memory from ``addPassword`` to the secret write; the key id is in
the journal while in flight; a failed secret write removes the new secret at once
(``removePassword``); a crash between the two leaves the key id in the journal and the next run
removes it; ``--rotate`` adds a new one, writes it, and only then removes the old; afterwards
each app holds at most one secret of ours. The tenant id and the client id are not secret, but
the workflows read them as secrets: written when missing, and again with ``--rotate``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ... import ENVIRONMENTS
from ...changes import Plan, SetupError
from . import azure
from .secrets import (
    PAGE,
    TOOL,
    WORKFLOW_SECRET,
    Ledger,
    Token,
    _backing,
    _iso,
    _parse_iso,
    _repo,
    _tidy_journal,
    check_workflow_token,
    plan_workflow_token,
    short,
    warn_unread,
    written,
)

KINDS = ("TENANT_ID", "APPLICATION_ID", "CLIENT_SECRET")


def secret_name(env: str, kind: str) -> str:
    return f"{env.upper()}_AZURE_SP_{kind}"


def secret_label(settings: Any, env: str) -> str:
    """The ``displayName`` of our client secrets."""
    return f"{TOOL} CI secret for {settings.github.full_name} ({env})"


def _ours(session: Any, app: Any, env: str) -> list[Token]:
    label = secret_label(session.settings, env)
    found = []
    for cred in app.passwords:
        if cred.get("displayName") != label or not cred.get("keyId"):
            continue
        end = cred.get("endDateTime")
        start = cred.get("startDateTime") or "1970-01-01T00:00:00Z"
        found.append(Token(cred["keyId"], _parse_iso(start), _parse_iso(end) if end else None))
    return sorted(found, key=lambda t: (t.created, t.token_id))


def plan_azure_secrets(session: Any, dry_run: bool = False, rotate: bool = False) -> Plan:
    settings = session.settings
    plan = Plan("ci.secrets")
    ours_names = {secret_name(e, k) for e in ENVIRONMENTS for k in KINDS} | {WORKFLOW_SECRET}
    warn_unread(settings, plan, ours_names)
    repo = _repo(session)
    existing = {s.name: s for s in repo.get_secrets()}
    write_pat = check_workflow_token(session, existing, rotate, "no client secret was added")
    ledger = Ledger(session)
    now = session.now()
    renew_before = dt.timedelta(days=settings.secrets.renew_before_days)
    held: dict[str, tuple[str, str]] = {}
    for env in ENVIRONMENTS:
        app = azure.entra_app(session, env)
        if app is None:
            raise SetupError(
                f"Entra app {settings.sp_name(env)} does not exist yet, so no client secret can "
                "be added to it",
                fix="run `invoke ci.service-principals` first",
                page=PAGE,
            )
        live = [t for t in _ours(session, app, env) if t.live(now)]
        name = secret_name(env, "CLIENT_SECRET")
        secret = existing.get(name)
        backing, drift, _suspect = _backing(ledger, env, secret, live)
        if not dry_run:
            _tidy_journal(ledger, env, live, backing, secret)
        expiring = (
            backing is not None
            and backing.expires is not None
            and backing.expires - now < renew_before
        )
        keep = backing if backing is not None and not expiring and not rotate else None
        foreign = secret is not None and backing is None and not drift and not rotate
        what = f"app {app.display_name}"
        if keep is not None:
            plan.keep(
                f"secret {name} holds client secret {short(keep.token_id)} of {what} "
                f"({keep.expiry_text()})"
            )
        elif foreign:
            plan.warn(
                f"secret {name} exists but holds no live client secret of ours: left as it is; "
                f"`invoke ci.secrets --rotate` replaces it with one of {what}"
            )
        else:
            if drift:
                plan.warn(f"secret {name} has drifted: {drift}: replacing it")
            if expiring:
                plan.warn(
                    f"client secret {short(backing.token_id)} in {name} {backing.expiry_text()}, "
                    f"within {settings.secrets.renew_before_days} days: replacing it"
                )
            plan.add(
                "add",
                f"client secret to {what}",
                _adder(session, ledger, env, held),
                detail=f"lifetime {settings.secrets.token_lifetime_days} days",
                kind="create",
            )
            plan.add(
                "set",
                f"secret {name}",
                _writer(session, ledger, repo, env, name, held),
                kind="create" if secret is None else "replace",
            )
        in_flight = set(ledger.in_flight(env))
        for token in live:
            if keep is not None and token.token_id == keep.token_id:
                continue
            if token.token_id in in_flight:
                why = "left by an interrupted run"
            elif backing is not None and token.token_id == backing.token_id:
                why = "replaced"
            else:
                why = "not in the secret"
            plan.add(
                "remove",
                f"client secret {short(token.token_id)} of {what}",
                _remover(session, ledger, env, token.token_id),
                detail=why,
            )
        for kind in ("TENANT_ID", "APPLICATION_ID"):
            id_name = secret_name(env, kind)
            if id_name in existing and not rotate:
                plan.keep(f"secret {id_name} exists")
                continue
            plan.add(
                "set",
                f"secret {id_name}",
                _id_writer(session, repo, env, kind),
                kind="replace" if id_name in existing else "create",
            )
    plan_workflow_token(session, plan, repo, existing, write_pat)
    return plan


# ----------------------------------------------------------------------------------- apply


def _adder(session: Any, ledger: Ledger, env: str, held: dict[str, tuple[str, str]]) -> Any:
    def add() -> str:
        app = azure.entra_app(session, env)
        end = session.now() + dt.timedelta(days=session.settings.secrets.token_lifetime_days)
        with azure.graph_errors(
            f"adding a client secret to Entra app {app.display_name}",
            denied=f"be an owner of the app {app.display_name} (Entra ID > App registrations > "
            "Owners), or hold the Entra ID role Application Administrator or Cloud Application "
            "Administrator",
        ):
            made = session.clients.graph.add_password(
                app.id, secret_label(session.settings, env), _iso(end)
            )
        key_id = made["keyId"]
        ledger.minted(env, key_id)  # before anything else can fail
        held[env] = (key_id, made.get("secretText") or "")
        if not held[env][1]:
            removed = _remove(session, ledger, env, key_id)
            after = "; it was removed" if removed else "; the next run removes it"
            raise SetupError(
                f"Entra ID added client secret {short(key_id)} to {app.display_name} but "
                "returned no value" + after,
                fix="run again",
                page=PAGE,
            )
        return key_id

    return add


def _writer(
    session: Any, ledger: Ledger, repo: Any, env: str, name: str, held: dict[str, tuple[str, str]]
) -> Any:
    def write() -> None:
        from ...lost import describe, may_have_applied
        from ...session import api_error_text

        key_id, value = held.pop(env)
        try:
            repo.create_secret(name, value)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the new secret must go
            if may_have_applied(exc):  # never remove a client secret the secret may hold
                ledger.write_unknown(env, key_id)
                written(session, repo, name)  # it may exist now: setup.destroy looks
                raise SetupError(
                    f"could not tell whether secret {name} was stored ({describe(exc)}); the new "
                    f"client secret {short(key_id)} was kept, since the secret may hold it",
                    fix="run `invoke ci.secrets` again: it stores a newer client secret first, "
                    f"then removes {short(key_id)}",
                    page=PAGE,
                ) from None
            ledger.write_failed(env)
            reason = api_error_text(exc) or type(exc).__name__
            removed = _remove(session, ledger, env, key_id)
            after = (
                f"the new client secret {short(key_id)} was removed, nothing is left behind"
                if removed
                else f"removing the new client secret {short(key_id)} failed too; the next run "
                "removes it (its key id is in the journal)"
            )
            raise SetupError(
                f"could not store secret {name} ({reason}); {after}",
                fix="check that your GitHub token may write Actions secrets of the repo, then "
                "run again",
                page=PAGE,
            ) from None
        ledger.written(env, key_id)
        written(session, repo, name)

    return write


def _id_writer(session: Any, repo: Any, env: str, kind: str) -> Any:
    def write() -> None:
        from ...session import api_error_text

        if kind == "TENANT_ID":
            with azure.graph_errors("reading the tenant id"):
                value = session.cached("entra.tenant", session.clients.graph.tenant_id)
        else:
            value = azure.app_id(session, env)
        name = secret_name(env, kind)
        try:
            repo.create_secret(name, value)
        except Exception as exc:  # noqa: BLE001 - reported in one line
            from ...lost import may_have_applied

            if may_have_applied(exc):
                written(session, repo, name)  # it may exist now: setup.destroy looks
            raise SetupError(
                f"could not store secret {name} ({api_error_text(exc) or type(exc).__name__})",
                fix="check that your GitHub token may write Actions secrets of the repo",
                page=PAGE,
            ) from None
        written(session, repo, name)

    return write


def _remove(session: Any, ledger: Ledger, env: str, key_id: str) -> bool:
    """removePassword ``key_id``; True when it is gone (also when it was gone already)."""
    from ...entra import GraphError

    app = azure.entra_app(session, env)
    try:
        session.clients.graph.remove_password(app.id, key_id)
    except GraphError as exc:
        if exc.status not in (400, 404):
            return False
    except Exception:  # noqa: BLE001 - called while handling another failure: report, go on
        return False
    ledger.gone(key_id)
    return True


def _remover(session: Any, ledger: Ledger, env: str, key_id: str) -> Any:
    def remove() -> None:
        from ...entra import GraphError

        app = azure.entra_app(session, env)
        with azure.graph_errors(f"removing client secret {short(key_id)}"):
            try:
                session.clients.graph.remove_password(app.id, key_id)
            except GraphError as exc:
                if exc.status not in (400, 404):  # 400: no such key id, gone already
                    raise
        ledger.gone(key_id)

    return remove
