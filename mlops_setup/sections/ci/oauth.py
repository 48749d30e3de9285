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
from dataclasses import dataclass
from typing import Any

from ... import ENVIRONMENTS
from ...changes import Plan, SetupError
from ...session import Session
from .secrets import CLOCK_SLACK, Ledger, _parse_iso, _sdk_debug_off, written

PAGE = "ci.md#auth"
JOURNAL_KEY = "ci.secrets.oauth"
SECRET_NAMES = {
    "staging": "STAGING_DATABRICKS_CLIENT_SECRET",
    "prod": "PROD_DATABRICKS_CLIENT_SECRET",
}
CLIENT_ID_NAMES = {"staging": "STAGING_DATABRICKS_CLIENT_ID", "prod": "PROD_DATABRICKS_CLIENT_ID"}


class OAuthLedger(Ledger):
    """The token path's journal entry, under its own key: OAuth secret ids instead of token ids."""

    def _data(self) -> dict[str, Any]:
        data = self.journal.get(JOURNAL_KEY) or {}
        if data.get("repo") != self.repo:
            data = {}
        return {
            "repo": self.repo,
            "stored": dict(data.get("stored") or {}),
            "in_flight": dict(data.get("in_flight") or {}),
        }

    def _save(self, data: dict[str, Any]) -> None:
        self.journal.set(JOURNAL_KEY, data)


@dataclass
class OAuthSecret:
    """One OAuth secret of an SP, as the account lists it (never the value)."""

    secret_id: str
    created: dt.datetime
    expires: dt.datetime | None

    @classmethod
    def of(cls, info: Any) -> OAuthSecret:
        def when(text: str | None) -> dt.datetime | None:
            return _parse_iso(text) if text else None

        return cls(info.id or "", when(info.create_time) or dt.datetime.min, when(info.expire_time))

    def live(self, now: dt.datetime) -> bool:
        return self.expires is None or self.expires > now

    def expiry_text(self) -> str:
        return "never expires" if self.expires is None else f"expires {self.expires:%Y-%m-%d}"


def short(secret_id: str) -> str:
    return secret_id[:8]


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


def _backing(ledger: OAuthLedger, env: str, gh_secret: Any, live: list[OAuthSecret]) -> Any:
    if gh_secret is None:
        return None
    record = ledger.stored(env)
    by_id = {s.secret_id: s for s in live}
    if not record or record.get("unknown") or record.get("token_id") not in by_id:
        return None
    updated = gh_secret.updated_at
    if updated is not None and updated.tzinfo is None:
        updated = updated.replace(tzinfo=dt.UTC)
    if updated and updated > _parse_iso(record["written_at"]) + CLOCK_SLACK:
        return None  # someone rewrote the GitHub secret after us
    return by_id[record["token_id"]]


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
    settings = session.settings
    ledger = OAuthLedger(session)
    now = session.now()
    renew_before = dt.timedelta(days=settings.secrets.renew_before_days)
    days = settings.secrets.token_lifetime_days
    held: dict[str, tuple[str, str]] = {}
    for env in ENVIRONMENTS:
        sp, name = sps[env], SECRET_NAMES[env]
        live = _live_secrets(session, sp)
        ids = {s.secret_id for s in live}
        if not dry_run:
            for gone in [i for i in ledger.in_flight(env) if i not in ids]:
                ledger.gone(gone)
        backing = _backing(ledger, env, existing.get(name), live)
        expiring = (
            backing is not None
            and backing.expires is not None
            and (backing.expires - now < renew_before)
        )
        keep = backing if backing is not None and not expiring and not rotate else None
        if keep is not None:
            plan.keep(
                f"secret {name} holds OAuth secret {short(keep.secret_id)} of SP "
                f"{sp.display_name} ({keep.expiry_text()})"
            )
        elif existing.get(name) is not None and backing is None and not rotate:
            plan.warn(
                f"secret {name} exists but holds no OAuth secret this tool stored: left as it "
                f"is; `invoke ci.secrets --rotate` replaces it with a new one of SP "
                f"{sp.display_name}"
            )
        else:
            if expiring:
                plan.warn(
                    f"OAuth secret {short(backing.secret_id)} in {name} {backing.expiry_text()}, "
                    f"within {settings.secrets.renew_before_days} days: replacing it"
                )
            plan.add(
                "create",
                f"OAuth secret of SP {sp.display_name}",
                _minter(session, ledger, env, sp, held),
                detail=f"lifetime {days} days",
                key=f"oauth {env}",
            )
            plan.add(
                "set",
                f"secret {name}",
                _writer(session, ledger, repo, env, sp, held),
                kind="create" if name not in existing else "replace",
            )
        id_name = CLIENT_ID_NAMES[env]
        if id_name not in existing or (keep is None and rotate):
            plan.add(
                "set",
                f"secret {id_name}",
                lambda n=id_name, v=sp.application_id: _store(session, repo, n, v),
                detail=sp.application_id,
                kind="replace" if id_name in existing else "create",
            )
        in_flight = set(ledger.in_flight(env))
        for secret in live:
            if keep is not None and secret.secret_id == keep.secret_id:
                continue
            if secret.secret_id in in_flight:
                why = "left by an interrupted run"
            elif backing is not None and secret.secret_id == backing.secret_id:
                why = "replaced"
            else:
                plan.keep(
                    f"OAuth secret {short(secret.secret_id)} of SP {sp.display_name} is not "
                    "one this tool stored: left as it is"
                )
                continue
            plan.add(
                "delete",
                f"OAuth secret {short(secret.secret_id)} of SP {sp.display_name}",
                lambda s=secret.secret_id, e=env, p=sp: _delete(session, ledger, e, p, s),
                detail=why,
            )


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


def _writer(session: Session, ledger: OAuthLedger, repo: Any, env: str, sp: Any, held: dict) -> Any:
    name = SECRET_NAMES[env]

    def write() -> None:
        from ...session import api_error_text

        secret_id, value = held.pop(env)
        try:
            repo.create_secret(name, value)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the new secret must go
            ledger.write_failed(env)
            reason = api_error_text(exc) or type(exc).__name__
            deleted = _delete_quietly(session, ledger, sp, secret_id)
            after = (
                f"the new OAuth secret {short(secret_id)} was deleted, nothing is left behind"
                if deleted
                else f"deleting the new OAuth secret {short(secret_id)} failed too; the next run "
                "deletes it (its id is in the journal)"
            )
            raise SetupError(
                f"could not store secret {name} ({reason}); {after}",
                fix="check that your GitHub token may write Actions secrets of the repo "
                "(classic: `repo` scope; fine-grained: Secrets read and write), then run again",
                page="ci.md#secrets",
            ) from None
        ledger.written(env, secret_id)
        written(session, repo, name)

    return write


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

    try:
        session.clients.account.service_principal_secrets.delete(str(sp.id), secret_id)
    except NotFound:
        pass
    except Exception:  # noqa: BLE001 - called while handling another failure
        return False
    ledger.gone(secret_id)
    return True


def _delete(session: Session, ledger: OAuthLedger, env: str, sp: Any, secret_id: str) -> None:
    import contextlib

    from databricks.sdk.errors import NotFound

    from ...databricks_util import ApiErrors, sp_denied_fix

    with (
        ApiErrors(
            session,
            "account",
            f"deleting OAuth secret {short(secret_id)} of {sp.display_name}",
            denied_fix=sp_denied_fix(session, env),
            page=PAGE,
        ),
        contextlib.suppress(NotFound),
    ):
        session.clients.account.service_principal_secrets.delete(str(sp.id), secret_id)
    ledger.gone(secret_id)
