"""``ci.auth_mode: oauth``: an OAuth secret of each SP, as ``ci.secrets`` stores it.

Per environment, GitHub Actions secrets ``{STAGING,PROD}_DATABRICKS_CLIENT_SECRET`` (an OAuth
secret of the SP, account API ``service_principal_secrets``, lifetime
``secrets.token_lifetime_days``) and ``{STAGING,PROD}_DATABRICKS_CLIENT_ID`` (its application
id). The CLI then authenticates with ``DATABRICKS_CLIENT_ID``/``DATABRICKS_CLIENT_SECRET`` (OAuth
M2M): each job gets an hour's token; the secret itself is what must be guarded and rotated.

The guarantees are those of the token path (:mod:`.secrets`):

* a secret value lives only in memory, from its creation to the secret write; never in a change
  line, an error, a log or the journal (the SDK's debug log is silenced while minting);
* the journal (``ci.secrets.oauth``) keeps the ids of secrets created but not yet stored ("in
  flight"); a failed write deletes the new secret at once, a crash in between leaves its id in
  the journal and the next run deletes it;
* ``--rotate`` creates the new secret, writes it, and only then deletes the old one.

Which OAuth secret backs a GitHub secret comes from the journal. OAuth secrets carry no comment,
so one the journal does not know (made by hand, or by another machine's run) is never deleted:
the step names it and leaves it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ... import ENVIRONMENTS
from ...changes import Plan, SetupError
from ...session import Session
from . import credentials
from .credentials import short, written
from .credentials import updated as updated_at
from .secrets import CLOCK_SLACK, Ledger, Token, _parse_iso, _sdk_debug_off

PAGE = "ci.md#auth"
JOURNAL_KEY = "ci.secrets.oauth"
SECRET_NAMES = {
    "staging": "STAGING_DATABRICKS_CLIENT_SECRET",
    "prod": "PROD_DATABRICKS_CLIENT_SECRET",
}
CLIENT_ID_NAMES = {"staging": "STAGING_DATABRICKS_CLIENT_ID", "prod": "PROD_DATABRICKS_CLIENT_ID"}
KIND = credentials.Kind(
    noun="OAuth secret",
    verb="delete",
    mint_action="create",
    mint_prep="of",
    foreign="secret {name} exists but holds no OAuth secret this tool stored: left as it is; "
    "`invoke ci.secrets --rotate` replaces it with a new one of {owner}",
    retire_page=PAGE,
    mint_key="oauth {env}",
    retires_strangers=False,  # no comment marks ours: one the journal does not know stays
)


class OAuthLedger(Ledger):
    """The token path's journal entry, under its own key: OAuth secret ids instead of token ids."""

    key = JOURNAL_KEY


@dataclass
class OAuthSecret(Token):
    """One OAuth secret of an SP, as the account lists it (never the value)."""

    @classmethod
    def of(cls, info: Any) -> OAuthSecret:
        def when(text: str | None) -> dt.datetime | None:
            return _parse_iso(text) if text else None

        return cls(info.id or "", when(info.create_time) or dt.datetime.min, when(info.expire_time))

    @property
    def secret_id(self) -> str:
        return self.token_id


def _live_secrets(session: Session, sp: Any) -> list[OAuthSecret]:
    from ...databricks_util import ApiErrors, sp_denied_fix

    with ApiErrors(
        session,
        "account",
        f"listing the OAuth secrets of {sp.display_name}",
        denied_fix=sp_denied_fix(session, sp.env),
        page=PAGE,
    ):
        infos = list(session.clients.account.service_principal_secrets.list(str(sp.id)))
    now = session.now()
    found = [OAuthSecret.of(i) for i in infos if i.id and (i.status or "ACTIVE") == "ACTIVE"]
    return sorted((s for s in found if s.live(now)), key=lambda s: (s.created, s.secret_id))


def _backing(
    ledger: OAuthLedger, env: str, gh_secret: Any, live: list[OAuthSecret]
) -> tuple[Any, str, str]:
    """(the OAuth secret the GitHub secret holds, if the journal says so; why the GitHub secret
    has drifted, if it may hold one whose write's answer was lost; that one's id)."""
    if gh_secret is None:
        return None, "", ""
    record = ledger.stored(env)
    by_id = {s.secret_id: s for s in live}
    if record and record.get("unknown") and record.get("token_id"):
        suspect = record["token_id"]
        return (
            None,
            f"it may hold OAuth secret {short(suspect)} (an earlier write's answer was lost)",
            suspect,
        )
    if not record or record.get("unknown") or record.get("token_id") not in by_id:
        return None, "", ""
    updated = updated_at(gh_secret)
    if updated and updated > _parse_iso(record["written_at"]) + CLOCK_SLACK:
        return None, "", ""  # someone rewrote the GitHub secret after us
    return by_id[record["token_id"]], "", ""


def plan_oauth_secrets(
    session: Session,
    plan: Plan,
    repo: Any,
    existing: dict[str, Any],
    sps: dict[str, Any],
    *,
    dry_run: bool,
    rotate: bool,
) -> None:
    ledger = OAuthLedger(session)
    now = session.now()
    run = credentials.Renewal(
        session,
        plan,
        KIND,
        ledger,
        repo,
        rotate,
        now,
        lambda s, led, e, i: _delete_quietly(s, led, sps[e], i),
        lambda s, led, e, i: _deleter(s, led, e, sps[e], i),
    )
    for env in ENVIRONMENTS:
        sp, name = sps[env], SECRET_NAMES[env]
        live = _live_secrets(session, sp)
        ids = {s.secret_id for s in live}
        if not dry_run:
            for gone in [i for i in ledger.in_flight(env) if i not in ids]:
                ledger.gone(gone)
        backing, drift, suspect = _backing(ledger, env, existing.get(name), live)
        slot = credentials.Slot(
            env, name, f"SP {sp.display_name}", existing.get(name), live, backing, drift, suspect
        )
        keep = run.renew(slot, _minter(session, ledger, env, sp, run.held))
        id_name = CLIENT_ID_NAMES[env]
        if id_name not in existing or (keep is None and rotate):
            plan.add(
                "set",
                f"secret {id_name}",
                lambda n=id_name, v=sp.application_id: _store(session, repo, n, v),
                detail=sp.application_id,
                kind="replace" if id_name in existing else "create",
            )
        run.retire_old(slot, keep)


def _minter(session: Session, ledger: OAuthLedger, env: str, sp: Any, held: dict) -> Any:
    def mint() -> str:
        from ...databricks_util import ApiErrors, sp_denied_fix

        days = session.settings.secrets.token_lifetime_days
        with (
            ApiErrors(
                session,
                "account",
                f"creating an OAuth secret for {sp.display_name}",
                denied_fix=sp_denied_fix(session, env),
                page=PAGE,
            ),
            _sdk_debug_off(),
        ):
            made = session.clients.account.service_principal_secrets.create(
                str(sp.id), lifetime=f"{days * 86400}s"
            )
        ledger.minted(env, made.id)  # before anything else can fail
        if not made.secret:
            deleted = _delete_quietly(session, ledger, sp, made.id)
            raise SetupError(
                f"the account created OAuth secret {short(made.id)} for {sp.display_name} but "
                "returned no value"
                + ("; it was deleted" if deleted else "; the next run deletes it"),
                fix="run again; if it repeats, report it",
                page=PAGE,
            )
        held[env] = (made.id, made.secret)
        return made.id

    return mint


def _store(session: Session, repo: Any, name: str, value: str) -> None:
    from ...session import api_error_text

    try:
        repo.create_secret(name, value)
        written(session, repo, name)
    except Exception as exc:  # noqa: BLE001 - one line, never the value
        raise SetupError(
            f"could not store secret {name} ({api_error_text(exc) or type(exc).__name__})",
            fix="check that your GitHub token may write Actions secrets of the repo",
            page="ci.md#secrets",
        ) from None


def _delete_quietly(session: Session, ledger: OAuthLedger, sp: Any, secret_id: str) -> bool:
    from databricks.sdk.errors import NotFound

    return credentials.discard(
        ledger,
        secret_id,
        lambda: session.clients.account.service_principal_secrets.delete(str(sp.id), secret_id),
        lambda exc: isinstance(exc, NotFound),
    )


def _deleter(
    session: Session,
    ledger: OAuthLedger,
    env: str,
    sp: Any,
    secret_id: str,
    voice: credentials.Voice | None = None,
) -> Callable[[], None]:
    """Delete ``secret_id`` of ``sp``: a lost answer read back (the SP's secrets listed afresh),
    one gone already is done; then forgotten in the journal. ``voice``: how ``setup.destroy``
    speaks of itself."""
    voice = voice or KIND.voice(session)

    def delete() -> None:
        from databricks.sdk.errors import NotFound

        from ...databricks_util import ApiErrors, sp_denied_fix

        what = f"deleting OAuth secret {short(secret_id)} of {sp.display_name}"
        api = session.clients.account.service_principal_secrets
        credentials.retire(
            ledger,
            secret_id,
            lambda: api.delete(str(sp.id), secret_id),
            lambda: all(s.secret_id != secret_id for s in _live_secrets(session, sp)),
            what,
            errors=ApiErrors(
                session, "account", what, denied_fix=sp_denied_fix(session, env), page=voice.page
            ),
            not_found=(NotFound,),
            voice=voice,
        )

    return delete
