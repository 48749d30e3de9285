"""ci.secrets: the guide's "Set secrets for CI/CD" (AWS and GCP).

GitHub Actions secrets of the repo:

* ``STAGING_WORKSPACE_TOKEN`` / ``PROD_WORKSPACE_TOKEN``: a Databricks token minted on behalf of
  that environment's service principal (``token_management.create_obo_token``) with the lifetime
  ``secrets.token_lifetime_days``. Its comment names the tool, the repo and the environment
  (``mlops-setup CI token for acme/my-mlops-project (staging)``): that is how a later run knows
  the tokens of ours among the workspace's tokens: owned by the SP (``owner_id``, its SCIM id,
  the same in the account and the workspace under identity federation) and carrying that comment.
  The whole list is read, not only the operator's (``created_by_id`` is whoever minted it: a
  colleague's earlier run must be found too).
* ``WORKFLOW_TOKEN``: the GitHub PAT (``workflow`` scope; no API can mint one) from the
  environment variable named by ``github.workflow_token_env``. If it must be written and the
  variable is empty, the step stops before minting anything.

Re-runs. A secret that exists and is backed by a live token of ours that does not expire within
``secrets.renew_before_days`` is left alone: no mint, no write. Which token backs a secret comes
from the journal (the token id we wrote, and when); without a journal entry (another machine ran
the setup) it is the newest live token of ours created before GitHub last updated the secret.
``--rotate`` mints new tokens, writes the secrets, and only then revokes the old tokens of ours, so
CI never holds a revoked token; it also rewrites ``WORKFLOW_TOKEN`` from the variable.

Nothing lost, nothing leaked:

* a token value lives only in memory, from the mint to the secret write (PyGithub seals it with
  the repo's public key); it is never in a change line, an error, a log or the journal (the SDK's
  debug log is silenced while minting, and it masks ``token_value`` anyway);
* the journal (``ci.secrets``) keeps the ids of tokens minted but not yet stored ("in flight");
  a failed secret write revokes the new token at once; a crash between mint and write leaves the
  id in the journal, and the next run revokes that token;
* afterwards each environment has at most one live token of ours: the one in its secret.

Azure: the workflows read the client secret of the environment's Entra ID application
(``{STAGING,PROD}_AZURE_SP_{TENANT_ID,APPLICATION_ID,CLIENT_SECRET}``): see
:mod:`.secrets_azure`, which keeps the same guarantees with Graph's ``addPassword`` /
``removePassword`` in place of minting and revoking tokens.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from invoke import task

from ... import ENVIRONMENTS
from ...changes import Plan, SetupError
from ...session import DRY_RUN_HELP, Session, Step, run_step
from . import credentials
from .credentials import short, written
from .credentials import updated as updated_at

PAGE = "ci.md#secrets"
SECRET_NAMES = {"staging": "STAGING_WORKSPACE_TOKEN", "prod": "PROD_WORKSPACE_TOKEN"}
WORKFLOW_SECRET = "WORKFLOW_TOKEN"  # noqa: S105 - a secret name, not a value
JOURNAL_KEY = "ci.secrets"
TOOL = "mlops-setup"
# GitHub's clock and ours differ a little; a secret updated this long after we wrote it was
# rewritten by someone else.
CLOCK_SLACK = dt.timedelta(minutes=10)
ROTATE_HELP = (
    "Mint new tokens, update the secrets (WORKFLOW_TOKEN too, from its variable), then revoke "
    "the old tokens."
)


def token_comment(settings: Any, env: str) -> str:
    """The comment of our tokens: names the tool, the repo and the environment."""
    return f"{TOOL} CI token for {settings.github.full_name} ({env})"


KIND = credentials.Kind(
    noun="token",
    verb="revoke",
    mint_action="mint",
    mint_prep="for",
    foreign="secret {name} exists but holds no live token of ours: left as it is; "
    "`invoke ci.secrets --rotate` replaces it with a token of {owner}",
    retire_page=PAGE,
    mint_key="mint {env}",
    stored_where=" in the secret",
)


# ------------------------------------------------------------------------------ the journal


class Ledger:
    """The journal entry of this step: ``{"repo", "stored": {env: {token_id, written_at} |
    {unknown: true}}, "in_flight": {token_id: env}}``. Ids and times only, never a value."""

    key = JOURNAL_KEY  # the journal's key of the entry

    def __init__(self, session: Session) -> None:
        self.journal = session.journal
        self.repo = session.settings.github.full_name
        self.now = session.now

    def _data(self) -> dict[str, Any]:
        data = self.journal.get(self.key) or {}
        if data.get("repo") != self.repo:  # another repo's entries mean nothing here
            data = {}
        return {
            "repo": self.repo,
            "stored": dict(data.get("stored") or {}),
            "in_flight": dict(data.get("in_flight") or {}),
        }

    def _save(self, data: dict[str, Any]) -> None:
        self.journal.set(self.key, data)

    def stored(self, env: str) -> dict[str, Any] | None:
        return self._data()["stored"].get(env)

    def in_flight(self, env: str) -> list[str]:
        return sorted(t for t, e in self._data()["in_flight"].items() if e == env)

    def minted(self, env: str, token_id: str) -> None:
        data = self._data()
        data["in_flight"][token_id] = env
        self._save(data)

    def written(self, env: str, token_id: str) -> None:
        data = self._data()
        data["in_flight"].pop(token_id, None)
        data["stored"][env] = {"token_id": token_id, "written_at": _iso(self.now())}
        self._save(data)

    def write_failed(self, env: str) -> None:
        """The secret may or may not hold the new (revoked) token: trust no old record."""
        data = self._data()
        data["stored"][env] = {"unknown": True}
        self._save(data)

    def write_unknown(self, env: str, token_id: str) -> None:
        """The write's answer was lost: the secret may hold ``token_id`` (kept live, no longer
        "in flight", so no run revokes it before the secret holds another token)."""
        data = self._data()
        data["in_flight"].pop(token_id, None)
        data["stored"][env] = {"unknown": True, "token_id": token_id}
        self._save(data)

    def adopt(self, env: str, token_id: str, written_at: str) -> None:
        data = self._data()
        data["stored"][env] = {"token_id": token_id, "written_at": written_at}
        self._save(data)

    def gone(self, token_id: str) -> None:
        """``token_id`` no longer exists: forget it wherever it is recorded."""
        data = self._data()
        data["in_flight"].pop(token_id, None)
        for env, record in list(data["stored"].items()):
            if record.get("token_id") == token_id:
                del data["stored"][env]
        self._save(data)


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------- live state


@dataclass
class Token:
    """One token of ours, as the token-management API lists it (no value, ever)."""

    token_id: str
    created: dt.datetime
    expires: dt.datetime | None  # None: never

    @classmethod
    def from_info(cls, info: Any) -> Token:
        expires = None
        if info.expiry_time and info.expiry_time > 0:
            expires = dt.datetime.fromtimestamp(info.expiry_time / 1000, dt.UTC)
        created = dt.datetime.fromtimestamp((info.creation_time or 0) / 1000, dt.UTC)
        return cls(info.token_id, created, expires)

    def live(self, now: dt.datetime) -> bool:
        return self.expires is None or self.expires > now

    def expiry_text(self) -> str:
        return "never expires" if self.expires is None else f"expires {self.expires:%Y-%m-%d}"


def service_principal(session: Session, env: str) -> Any:
    """``env``'s service principal (application id and SCIM id); the one lookup this step
    makes, shared with ci.service-principals through :mod:`mlops_setup.databricks_util`."""
    from ...databricks_util import find_service_principal

    sp = find_service_principal(session, env)
    if sp is None:
        name = session.settings.sp_name(env)
        raise SetupError(
            f"service principal {name} does not exist yet, so no token can be minted for it",
            fix="run `invoke ci.service-principals` first",
            page=PAGE,
        )
    return sp


def _tokens_of_ours(session: Session, env: str, sp: Any) -> list[Token]:
    """Live and expired tokens of ours for ``sp`` in ``env``'s workspace, oldest first."""
    from ...databricks_util import ApiErrors

    comment = token_comment(session.settings, env)
    with ApiErrors(
        session,
        env,
        f"listing the tokens of {sp.display_name}",
        denied_fix=f"ask a workspace admin of {env} to add you to the admins group there "
        "(only admins may manage the tokens of service principals)",
        page=PAGE,
    ):
        w = session.clients.workspace(env)
        infos = list(w.token_management.list())
    owner = int(sp.id)
    ours = [
        Token.from_info(i)
        for i in infos
        if i.owner_id == owner and i.comment == comment and i.token_id
    ]
    return sorted(ours, key=lambda t: (t.created, t.token_id))


@contextlib.contextmanager
def _sdk_debug_off() -> Iterator[None]:
    """No debug log of the SDK while a token value is on the wire (it masks ``token_value``,
    but we do not rely on that)."""
    logger = logging.getLogger("databricks.sdk")
    level = logger.level
    logger.setLevel(max(level, logging.INFO))
    try:
        yield
    finally:
        logger.setLevel(level)


# ------------------------------------------------------------------------------------ plan


@dataclass
class EnvState(credentials.Slot):
    """An environment's secret and tokens as planned (``drift``: the secret holds, or may hold,
    a token of ours that is revoked, expired, unknown or minted by a run that never finished),
    and its SP."""

    sp: Any = None


def _backing(
    ledger: Ledger,
    env: str,
    secret: Any,
    live: list[Token],
    mine: list[Token] | None = None,
    *,
    noun: str = "token",
    made: str = "minted",
) -> tuple[Token | None, str, str]:
    """(the live token of ours the secret holds, if we can tell; why the secret has drifted
    if it holds a token of ours that is no longer good; the id of that token). ``noun`` and
    ``made``: what the credential is called, and how it came to be (an Entra client secret,
    added)."""
    if secret is None:
        return None, "", ""
    by_id = {t.token_id: t for t in live}
    record = ledger.stored(env)
    updated = updated_at(secret)
    in_flight = set(ledger.in_flight(env))
    for token in live:  # a run stopped after its write was carried out, before it said so
        if token.token_id in in_flight and updated and updated >= token.created - CLOCK_SLACK:
            return (
                None,
                f"it may hold {noun} {short(token.token_id)}, {made} by a run that did not finish",
                token.token_id,
            )
    if record:
        rewritten = (
            not record.get("unknown")
            and updated is not None
            and updated > _parse_iso(record["written_at"]) + CLOCK_SLACK
        )
        if rewritten:
            return None, "", ""  # someone rewrote the secret after us: theirs now
        token_id = record.get("token_id") or ""
        if record.get("unknown"):
            if token_id:
                lost = f"it may hold {noun} {short(token_id)} (an earlier write's answer was lost)"
                return None, lost, token_id
            return None, f"it may hold a revoked {noun} (an earlier write failed)", ""
        if token_id not in by_id:
            return None, f"it holds {noun} {short(token_id)}, revoked or expired", token_id
        return by_id[token_id], "", ""
    candidates = [
        t
        for t in live
        if t.token_id not in in_flight and (updated is None or t.created <= updated + CLOCK_SLACK)
    ]
    if candidates:
        return candidates[-1], "", ""
    dead = [
        t
        for t in mine or []
        if t not in live and (updated is None or t.created <= updated + CLOCK_SLACK)
    ]
    if dead:  # the newest token of ours written before the secret's update: expired
        return None, f"it holds {noun} {short(dead[-1].token_id)}, which expired", ""
    return None, "", ""


def plan_secrets(session: Session, dry_run: bool = False, rotate: bool = False) -> Plan:
    settings = session.settings
    if settings.ci.auth_mode != "token":  # OAuth secrets or OIDC federation: ci/auth.py
        from .auth import plan_credentials

        return plan_credentials(session, dry_run=dry_run, rotate=rotate)
    plan = Plan("ci.secrets")
    if settings.databricks.cloud == "azure":  # Entra ID client secrets: secrets_azure.py
        from .secrets_azure import plan_azure_secrets

        return plan_azure_secrets(session, dry_run=dry_run, rotate=rotate)
    warn_unread(settings, plan, {*SECRET_NAMES.values(), WORKFLOW_SECRET})
    repo = _repo(session)
    existing = {s.name: s for s in repo.get_secrets()}
    write_pat = check_workflow_token(session, existing, rotate, "nothing was minted")
    ledger = Ledger(session)
    now = session.now()
    states = []
    for env in ENVIRONMENTS:
        sp = service_principal(session, env)
        mine = _tokens_of_ours(session, env, sp)
        live = [t for t in mine if t.live(now)]
        name = SECRET_NAMES[env]
        secret = existing.get(name)
        backing, drift, suspect = _backing(ledger, env, secret, live, mine)
        owner = f"SP {sp.display_name}"
        states.append(EnvState(env, name, owner, secret, live, backing, drift, suspect, sp))
        if not dry_run:
            _tidy_journal(ledger, env, live, backing, secret)
    run = credentials.Renewal(session, plan, KIND, ledger, repo, rotate, now, _revoke, _revoker)
    for state in states:
        keep = run.renew(state, _minter(session, ledger, state, run.held, plan))
        run.retire_old(state, keep)
    plan_workflow_token(session, plan, repo, existing, write_pat)
    return plan


def warn_unread(settings: Any, plan: Plan, ours: set[str]) -> None:
    """Warn about secrets the project's workflows read that we do not write, and the reverse."""
    read = set(settings.model.secrets)
    for name in sorted(read - ours):
        plan.warn(f"the workflows also read secret {name}, which ci.secrets does not write")
    for name in sorted(ours - read) if read else []:
        plan.warn(f"no workflow of the project reads secret {name}; it is written anyway")


def check_workflow_token(
    session: Session, existing: dict[str, Any], rotate: bool, spared: str
) -> bool:
    """Whether WORKFLOW_TOKEN is to be written; stop before anything else if it cannot be
    (``spared`` says what was therefore not done: "nothing was minted")."""
    settings = session.settings
    pat_env = settings.github.workflow_token_env
    write = rotate or WORKFLOW_SECRET not in existing
    if write and not session.env.get(pat_env):
        raise SetupError(
            f"environment variable {pat_env} is empty, so the {WORKFLOW_SECRET} secret cannot "
            f"be written; {spared}",
            fix=f"create a GitHub personal access token with the `workflow` scope (classic: "
            f"`repo` and `workflow`; fine-grained: Contents and Workflows read and write on "
            f"{settings.github.full_name}), export it as {pat_env}, then run again",
            page=PAGE,
        )
    return write


def plan_workflow_token(
    session: Session, plan: Plan, repo: Any, existing: dict[str, Any], write: bool
) -> None:
    """The WORKFLOW_TOKEN secret, written from its variable (every auth mode and cloud)."""
    pat_env = session.settings.github.workflow_token_env
    if write:
        plan.add(
            "set",
            f"secret {WORKFLOW_SECRET}",
            lambda: _write_pat(session, repo, pat_env),
            detail=f"from ${pat_env}",
            kind="replace" if WORKFLOW_SECRET in existing else "create",
        )
    else:
        plan.keep(f"secret {WORKFLOW_SECRET} exists (--rotate rewrites it from ${pat_env})")


def _tidy_journal(
    ledger: Ledger, env: str, live: list[Token], backing: Token | None, secret: Any
) -> None:
    """Forget in-flight ids of tokens that are gone; remember which token backs the secret
    (and when GitHub says the secret was written, so a later rewrite by someone else shows)."""
    ids = {t.token_id for t in live}
    for token_id in ledger.in_flight(env):
        if token_id not in ids:
            ledger.gone(token_id)
    record = ledger.stored(env)
    if backing is not None and not record:
        ledger.adopt(env, backing.token_id, _iso(updated_at(secret) or backing.created))


def _repo(session: Session) -> Any:
    """The GitHub repo object (see :func:`repo.require_repo`); ci.* steps share it."""
    from ..repo import require_repo

    return require_repo(session, PAGE)


# ----------------------------------------------------------------------------------- apply


def _minter(
    session: Session,
    ledger: Ledger,
    state: EnvState,
    held: dict[str, tuple[str, str]],
    plan: Plan,
) -> Any:
    def mint() -> str:
        from ...lost import describe, may_have_applied

        env, sp = state.env, state.sp
        w = session.clients.workspace(env)
        made = None
        for attempt in (1, 2):
            try:
                made = _create_token(session, state, w)
                break
            except Exception as exc:
                if not may_have_applied(exc):
                    raise
                # the answer (and the value) was lost: a token it made is of no use to anyone,
                # since nobody has its value; revoke it, then mint once more
                orphans = _orphans(session, ledger, state)
                for token_id in orphans:
                    _revoke(session, ledger, env, token_id)
                if attempt == 2:
                    raise SetupError(
                        f"minting a token for {sp.display_name} failed twice with "
                        f"{describe(exc)}"
                        + (
                            f"; the {len(orphans)} token(s) it made were revoked" if orphans else ""
                        ),
                        fix="run `invoke ci.secrets` again later",
                        page=PAGE,
                    ) from None
                plan.note(
                    f"minting a token for {sp.display_name}: the answer was lost "
                    f"({describe(exc)}); "
                    + (
                        f"revoked the token it made ({', '.join(map(short, orphans))}), "
                        if orphans
                        else ""
                    )
                    + "minted again"
                )
        assert made is not None
        token_id = made.token_info.token_id
        ledger.minted(env, token_id)  # before anything else can fail
        if not made.token_value:
            revoked = _revoke(session, ledger, env, token_id)
            raise SetupError(
                f"workspace {env} minted token {short(token_id)} for {sp.display_name} but "
                "returned no value"
                + ("; it was revoked" if revoked else "; the next run revokes it"),
                fix="run again; if it repeats, mint one by hand and report it",
                page=PAGE,
            )
        held[env] = (token_id, made.token_value)
        return token_id

    return mint


def _orphans(session: Session, ledger: Ledger, state: EnvState) -> list[str]:
    """Live tokens of ours minted since the plan read them, that no journal entry knows."""
    known = {t.token_id for t in state.live} | set(ledger.in_flight(state.env))
    record = ledger.stored(state.env) or {}
    known.add(record.get("token_id", ""))
    now = session.now()
    try:
        fresh = _tokens_of_ours(session, state.env, state.sp)
    except SetupError:
        return []
    return [t.token_id for t in fresh if t.live(now) and t.token_id not in known]


def _create_token(session: Session, state: EnvState, w: Any) -> Any:
    """One create_obo_token call; its refusals explained, a lost answer passed on."""
    from databricks.sdk.errors import DatabricksError

    from ...databricks_util import ApiErrors
    from ...lost import may_have_applied

    settings = session.settings
    env, sp = state.env, state.sp
    try:
        with (
            ApiErrors(
                session,
                env,
                f"minting a token for {sp.display_name}",
                denied_fix=f"be a workspace admin of {env}, and give {sp.display_name} the "
                "`Can Use` token permission (Settings > Advanced > Personal access tokens "
                "> Permissions)",
                page=PAGE,
            ),
            _sdk_debug_off(),
        ):
            made = w.token_management.create_obo_token(
                application_id=sp.application_id,
                lifetime_seconds=settings.secrets.token_lifetime_days * 86400,
                comment=token_comment(settings, env),
            )
    except DatabricksError as exc:
        if may_have_applied(exc):
            raise
        # The refusal carries no token value: its first line says why (a lifetime above
        # the workspace's maximum, tokens disabled, ...).
        reason = str(exc).splitlines()[0] if str(exc) else ""
        code = getattr(exc, "error_code", "") or type(exc).__name__
        raise SetupError(
            f"workspace {env} refused to mint a token for {sp.display_name}: {code}"
            + (f" ({reason})" if reason else ""),
            fix="tokens must be enabled in the workspace (Settings > Advanced > Personal "
            f"access tokens), {sp.display_name} must be in it (`invoke "
            "ci.service-principals`) and hold the `Can Use` token permission there, and "
            "secrets.token_lifetime_days must not exceed the workspace's maximum",
            page=PAGE,
        ) from None
    return made


def _revoke(session: Session, ledger: Ledger, env: str, token_id: str) -> bool:
    """Delete ``token_id``; True when it is gone (also when it was gone already)."""
    from databricks.sdk.errors import NotFound

    if not token_id:
        return False
    return credentials.discard(
        ledger,
        token_id,
        lambda: session.clients.workspace(env).token_management.delete(token_id),
        lambda exc: isinstance(exc, NotFound),
    )


def _revoker(
    session: Session,
    ledger: Ledger,
    env: str,
    token_id: str,
    voice: credentials.Voice | None = None,
) -> Any:
    """Revoke ``token_id`` (a lost answer read back, a token gone already is done) and forget
    it in the ledger. ``voice``: how ``setup.destroy`` speaks of itself."""
    voice = voice or KIND.voice(session)

    def revoke() -> None:
        from databricks.sdk.errors import NotFound

        from ...databricks_util import ApiErrors

        w = session.clients.workspace(env)

        def gone() -> bool | None:  # read afresh: is the token still there?
            try:
                w.token_management.get(token_id)
            except NotFound:
                return True
            return None

        credentials.retire(
            ledger,
            token_id,
            lambda: w.token_management.delete(token_id),
            gone,
            f"revoking token {short(token_id)}",
            errors=ApiErrors(
                session,
                env,
                f"revoking token {short(token_id)}",
                denied_fix=f"ask a workspace admin of {env} to add you to the admins group there "
                "(only admins may manage the tokens of service principals)",
                page=voice.page,
            ),
            not_found=(NotFound,),
            voice=voice,
        )

    return revoke


def _write_pat(session: Session, repo: Any, pat_env: str) -> None:
    from ...session import api_error_text

    try:
        repo.create_secret(WORKFLOW_SECRET, session.env.get(pat_env, ""))
        written(session, repo, WORKFLOW_SECRET)
    except Exception as exc:  # noqa: BLE001 - reported in one line, never with the value
        reason = api_error_text(exc) or type(exc).__name__
        raise SetupError(
            f"could not store secret {WORKFLOW_SECRET} ({reason})",
            fix="check that your GitHub token may write Actions secrets of the repo, then run "
            "again",
            page=PAGE,
        ) from None


# ------------------------------------------------------------------------------------ task

STEP = Step("ci.secrets", "the GitHub Actions secrets CI/CD reads", plan_secrets)
STEPS = (STEP,)


@task(name="secrets", help={"dry_run": DRY_RUN_HELP, "rotate": ROTATE_HELP})
def secrets(c, dry_run=False, rotate=False):
    """Store the SP tokens and the workflow PAT as GitHub Actions secrets."""
    run_step(c, STEP, dry_run=dry_run, rotate=rotate)
