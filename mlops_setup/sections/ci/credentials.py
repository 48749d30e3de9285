"""What ci.secrets' three kinds of CI credential share: one loop, one write, one removal.

A workspace token (:mod:`.secrets`, AWS and GCP), an Entra ID client secret
(:mod:`.secrets_azure`) and an OAuth secret of an SP (:mod:`.oauth`) go through the same life:
per environment, keep the credential the GitHub secret holds, or mint a new one, store it as the
GitHub Actions secret, and only then retire the old ones (:class:`Renewal`). The pieces a fix
must reach in all three live here once:

* :meth:`Renewal._store`: the secret write. A refused write retires the new credential at once;
  a write whose answer was lost is read back (GitHub's ``updated_at``), and when it cannot tell,
  the new credential is kept, since the secret may hold it: never revoke what may be in use.
* :func:`retire`: removing a credential through :func:`mlops_setup.lost.confirm` (a lost answer
  read back; "not found" means gone already), then forgetting it in the journal. ``ci.auth``
  and ``setup.destroy`` use it too (the latter in its own :class:`Voice`).
* :func:`discard`: the quiet removal of a new credential while another failure is reported.
* :func:`plan_retire_all`: every credential of ours retired (a mode retired, a destroy).

What differs is words, held in a :class:`Kind`: "token", "revoke"; "client secret", "remove";
"OAuth secret", "delete".
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...changes import Plan, SetupError

PAGE = "ci.md#secrets"


@dataclass(frozen=True)
class Kind:
    """How the operator reads one kind of credential, in every line about it."""

    noun: str  # "token": "holds token 1a2b3c4d of SP ..."
    verb: str  # "revoke": the retiring change's action; "revoked", "revoking", "revokes"
    mint_action: str  # the minting change's action ("mint")
    mint_prep: str  # "token for SP ...", "client secret to app ..."
    foreign: str  # the warning on a secret that holds none of ours ({name}, {owner})
    retire_page: str  # the runbook page a failed retirement points at
    mint_key: str = ""  # the minting change's key ({env}); "" for the default
    mint_kind: str = ""  # the minting change's kind, where the action does not say it
    id_word: str = "id"  # "its id is in the journal"
    stored_where: str = ""  # "it stores a newer token{stored_where} first"
    write_fix: str = (
        "check that your GitHub token may write Actions secrets of the repo (classic: `repo` "
        "scope; fine-grained: Secrets read and write), then run again"
    )
    retires_strangers: bool = True  # False: a live one we cannot place is named and left

    def voice(self, session: Any) -> Voice:
        """How ci.secrets (and ci.auth) speak of a retirement of this kind."""
        return Voice(
            self.retire_page,
            f"run `invoke ci.secrets` again: it {self.verb}s what is left",
            session.out.note,
        )

    @property
    def past(self) -> str:
        return f"{self.verb}d"

    @property
    def doing(self) -> str:
        return f"{self.verb[:-1]}ing"


@dataclass(frozen=True)
class Voice:
    """How a retirement speaks: the runbook page of its errors, the fix when its answer is lost
    and cannot be read back, how a lost answer read back is told. ``setup.destroy`` has its
    own."""

    page: str
    fix: str
    note: Callable[[str], None]


def short(cred_id: str) -> str:
    return cred_id[:8]


def updated(secret: Any) -> dt.datetime | None:
    """When GitHub last wrote ``secret`` (its listing entry, or None), aware."""
    when = secret.updated_at if secret is not None else None
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when


def written(session: Any, repo: Any, name: str) -> None:
    """Journal a GitHub Actions secret this tool wrote (its name, never its value): what
    ``setup.destroy`` deletes."""
    session.journal.made(
        "github_secret", f"{repo.full_name}:{name}", repo=repo.full_name, name=name
    )


def secret_rewritten(repo: Any, name: str, before: Any) -> bool:
    """Does GitHub now show ``name`` written after ``before`` (its listing entry when planned,
    or None if it did not exist)? False when it cannot tell."""
    from github import GithubException

    try:
        now = repo.get_secret(name)
        when = updated(now)
    except GithubException:
        return False
    except Exception:  # noqa: BLE001 - a transport error: we cannot tell
        return False
    if when is None:
        return False
    previous = updated(before)
    return previous is None or when > previous


# ------------------------------------------------------------------------------------ plan


@dataclass
class Slot:
    """One environment's GitHub secret and the credential of ours it holds, as planned."""

    env: str
    name: str  # the GitHub secret
    owner: str  # whose credential: "SP prod-my_mlops_project", "app ..."
    secret: Any | None  # GitHub's listing entry (name, updated_at) or None
    live: list[Any]  # live credentials of ours (``token_id``, ``expires``, ``expiry_text()``)
    backing: Any | None  # the one the secret holds, if we can tell
    drift: str = ""  # why the secret needs replacing although it exists; "" if not
    suspect: str = ""  # the id the drift is about, if any: retired as "replaced"


@dataclass
class Renewal:
    """One ci.secrets run over the environments, for one kind of credential.

    ``discard_new(session, ledger, env, id)`` quietly removes a new credential whose secret
    write was refused (True once gone); ``retirer(session, ledger, env, id)`` is the change that
    retires an old one. ``held`` keeps each new credential's (id, value), from the mint to the
    secret write, in memory only."""

    session: Any
    plan: Plan
    kind: Kind
    ledger: Any
    repo: Any
    rotate: bool
    now: dt.datetime
    discard_new: Callable[[Any, Any, str, str], bool]
    retirer: Callable[[Any, Any, str, str], Callable[[], Any]]
    held: dict[str, tuple[str, str]] = field(default_factory=dict)

    def renew(self, slot: Slot, mint: Callable[[], Any]) -> Any | None:
        """Keep the credential ``slot``'s secret holds, leave a secret that is not ours, or plan
        ``mint`` (which puts the new one in :attr:`held`) and the secret write. Returns the
        credential kept, or None."""
        plan, kind, secrets = self.plan, self.kind, self.session.settings.secrets
        name, owner, backing, noun = slot.name, slot.owner, slot.backing, kind.noun
        renew_before_days = secrets.renew_before_days
        expiring = (
            backing is not None
            and backing.expires is not None
            and backing.expires - self.now < dt.timedelta(days=renew_before_days)
        )
        keep = backing if backing is not None and not expiring and not self.rotate else None
        if keep is not None:
            plan.keep(
                f"secret {name} holds {noun} {short(keep.token_id)} of {owner} "
                f"({keep.expiry_text()})"
            )
            return keep
        if slot.secret is not None and backing is None and not slot.drift and not self.rotate:
            # Set by hand or by another tool: not ours to overwrite unasked.
            plan.warn(kind.foreign.format(name=name, owner=owner))
            return None
        if expiring:
            plan.warn(
                f"{noun} {short(backing.token_id)} in {name} {backing.expiry_text()}, within "
                f"{renew_before_days} days: replacing it"
            )
        elif slot.drift and not self.rotate:  # --rotate replaces it anyway
            plan.warn(f"secret {name} has drifted: {slot.drift}; replacing it")
            plan.drifted = True  # setup.status: drifted, not missing
        plan.add(
            kind.mint_action,
            f"{noun} {kind.mint_prep} {owner}",
            mint,
            detail=f"lifetime {secrets.token_lifetime_days} days",
            key=kind.mint_key.format(env=slot.env),
            kind=kind.mint_kind,
        )
        plan.add(
            "set",
            f"secret {name}",
            lambda: self._store(slot),
            kind="create" if slot.secret is None else "replace",
        )
        return None

    def retire_old(self, slot: Slot, keep: Any | None) -> None:
        """Retire every live credential of ours in ``slot`` but the one kept, after the new one
        is stored (the changes run in order): the one replaced, those of interrupted runs,
        strays."""
        kind, env = self.kind, slot.env
        in_flight = set(self.ledger.in_flight(env))
        for cred in slot.live:
            cred_id = cred.token_id
            if keep is not None and cred_id == keep.token_id:
                continue
            if cred_id == slot.suspect or (
                slot.backing is not None and cred_id == slot.backing.token_id
            ):
                why = "replaced"
            elif cred_id in in_flight:
                why = "left by an interrupted run"
            elif kind.retires_strangers:
                why = "not in the secret"
            else:
                self.plan.keep(
                    f"{kind.noun} {short(cred_id)} of {slot.owner} is not one this tool "
                    "stored: left as it is"
                )
                continue
            self.plan.add(
                kind.verb,
                f"{kind.noun} {short(cred_id)} of {slot.owner}",
                self.retirer(self.session, self.ledger, env, cred_id),
                detail=why,
            )

    def _store(self, slot: Slot) -> None:
        """Write ``slot``'s new credential (held since the mint) into its GitHub secret.

        Refused: the new credential is retired at once (:attr:`discard_new`), and the journal
        says the secret may hold a retired one. Answer lost: GitHub is asked whether the secret
        was updated since the plan read it; if it cannot tell, the new credential is kept,
        since the secret may hold it, and a re-run replaces it first."""
        from ...lost import describe, may_have_applied
        from ...session import api_error_text

        session, kind, ledger, repo = self.session, self.kind, self.ledger, self.repo
        env, name = slot.env, slot.name
        cred_id, value = self.held.pop(env)
        noun, s = kind.noun, short(cred_id)
        try:
            repo.create_secret(name, value)
        except Exception as exc:  # noqa: BLE001 - whatever failed, the new credential must go
            if may_have_applied(exc):  # never retire a credential the secret may hold
                if secret_rewritten(repo, name, slot.secret):
                    self.plan.note(
                        f"secret {name}: the answer to the write was lost ({describe(exc)}), "
                        f"but GitHub shows it updated: it holds the new {noun}"
                    )
                    ledger.written(env, cred_id)
                    written(session, repo, name)
                    return
                ledger.write_unknown(env, cred_id)
                written(session, repo, name)  # it may exist now: setup.destroy looks
                raise SetupError(
                    f"could not tell whether secret {name} was stored ({describe(exc)}); the "
                    f"new {noun} {s} was kept, since the secret may hold it",
                    fix=f"run `invoke ci.secrets` again: it stores a newer {noun}"
                    f"{kind.stored_where} first, then {kind.verb}s {s}",
                    page=PAGE,
                ) from None
            ledger.write_failed(env)
            reason = api_error_text(exc) or type(exc).__name__
            after = (
                f"the new {noun} {s} was {kind.past}, nothing is left behind"
                if self.discard_new(session, ledger, env, cred_id)
                else f"{kind.doing} the new {noun} {s} failed too; the next run "
                f"{kind.verb}s it (its {kind.id_word} is in the journal)"
            )
            raise SetupError(
                f"could not store secret {name} ({reason}); {after}",
                fix=kind.write_fix,
                page=PAGE,
            ) from None
        ledger.written(env, cred_id)
        written(session, repo, name)


# ----------------------------------------------------------------------------------- apply


def discard(
    ledger: Any, cred_id: str, delete: Callable[[], Any], gone_already: Callable[[Any], bool]
) -> bool:
    """Remove ``cred_id`` while another failure is being reported: True when it is gone (also
    when ``gone_already`` reads the error as "it was gone"), False on any other error."""
    try:
        delete()
    except Exception as exc:  # noqa: BLE001 - called while handling another failure: go on
        if not gone_already(exc):
            return False
    ledger.gone(cred_id)
    return True


def retire(
    ledger: Any,
    cred_id: str,
    delete: Callable[[], Any],
    gone: Callable[[], bool],
    what: str,
    *,
    errors: Any,
    not_found: tuple[type[BaseException], ...] = (),
    voice: Voice,
) -> None:
    """Run ``delete`` inside ``errors`` (the API's refusals explained); a lost answer is read
    back with ``gone`` (True once the credential is gone); ``not_found`` means gone already.
    Then forget ``cred_id`` in the journal."""
    from ...lost import confirm

    with errors, contextlib.suppress(*not_found):
        confirm(
            delete,
            lambda: True if gone() else None,
            what,
            fix=voice.fix,
            page=voice.page,
            note=voice.note,
        )
    ledger.gone(cred_id)


def plan_retire_all(
    plan: Plan,
    kind: Kind,
    owner: str,
    creds: list[Any],
    retirer: Callable[[str], Callable[[], Any]],
    detail: str,
) -> None:
    """Retire each of ``creds`` (credentials of ours no secret is to hold any more: a mode
    retired, the setup destroyed), saying why in ``detail``."""
    for cred in creds:
        plan.add(
            kind.verb,
            f"{kind.noun} {short(cred.token_id)} of {owner}",
            retirer(cred.token_id),
            detail=detail,
        )
