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
from collections.abc import Callable
from typing import Any

from ... import ENVIRONMENTS
from ...changes import Plan, SetupError
from . import azure, credentials
from .credentials import short, written
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
    warn_unread,
)

KINDS = ("TENANT_ID", "APPLICATION_ID", "CLIENT_SECRET")
KIND = credentials.Kind(
    noun="client secret",
    verb="remove",
    mint_action="add",
    mint_prep="to",
    foreign="secret {name} exists but holds no live client secret of ours: left as it is; "
    "`invoke ci.secrets --rotate` replaces it with one of {owner}",
    retire_page=azure.PAGE,
    mint_kind="create",
    id_word="key id",
    write_fix="check that your GitHub token may write Actions secrets of the repo, then run again",
)


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
    run = credentials.Renewal(session, plan, KIND, ledger, repo, rotate, now, _remove, _remover)
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
        backing, drift, _suspect = _backing(
            ledger, env, secret, live, noun="client secret", made="added"
        )
        if not dry_run:
            _tidy_journal(ledger, env, live, backing, secret)
        # no suspect: a client secret an interrupted run may have stored is retired as "left
        # by an interrupted run" here, where the token path says "replaced" (kept as it was)
        slot = credentials.Slot(env, name, f"app {app.display_name}", secret, live, backing, drift)
        keep = run.renew(slot, _adder(session, ledger, env, run.held))
        run.retire_old(slot, keep)
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
    return credentials.discard(
        ledger,
        key_id,
        lambda: session.clients.graph.remove_password(app.id, key_id),
        lambda exc: isinstance(exc, GraphError) and exc.status in (400, 404),
    )


def client_secret_remover(
    session: Any,
    ledger: Ledger,
    app: Callable[[], Any],
    key_id: str,
    what: str,
    *,
    denied: str = "",
    voice: credentials.Voice | None = None,
) -> Callable[[], None]:
    """removePassword ``key_id`` on the Entra app ``app()`` returns at apply time; a lost answer
    is read back (the app read afresh: does it still list the key id?), a key id gone already
    (400, 404) is done; then forgotten in the journal. ``ci.secrets``, ``ci.auth`` and
    ``setup.destroy`` (with its own ``what``, ``denied`` and ``voice``) use it."""
    voice = voice or KIND.voice(session)

    def remove() -> None:
        from ...entra import GraphError

        target = app()
        g = session.clients.graph

        def delete() -> None:
            try:
                g.remove_password(target.id, key_id)
            except GraphError as exc:
                if exc.status not in (400, 404):  # 400: no such key id (gone already)
                    raise

        def gone() -> bool:
            live = g.app_by_app_id(target.app_id)
            return live is None or all(p.get("keyId") != key_id for p in live.passwords)

        credentials.retire(
            ledger,
            key_id,
            delete,
            gone,
            what,
            errors=azure.graph_errors(what, denied=denied, page=voice.page),
            voice=voice,
        )

    return remove


def _remover(session: Any, ledger: Ledger, env: str, key_id: str) -> Callable[[], None]:
    return client_secret_remover(
        session,
        ledger,
        lambda: azure.entra_app(session, env),
        key_id,
        f"removing client secret {short(key_id)}",
    )
