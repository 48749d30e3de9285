"""Lazy factories for the GitHub, Databricks and git clients.

Nothing here imports databricks-sdk, PyGithub or GitPython at module level: ``invoke --list``
must stay fast. Each client is built on first use and cached on the :class:`Clients` object.

Authentication (secrets never come from the config file):

* GitHub: per ``github.host``, as ``gh`` does (:func:`github_token`): ``GH_TOKEN``, else
  ``GITHUB_TOKEN`` (github.com, GHE.com); ``GH_ENTERPRISE_TOKEN``, else
  ``GITHUB_ENTERPRISE_TOKEN`` (GitHub Enterprise Server); else ``gh auth token --hostname HOST``.
* Databricks: the SDK's unified auth: the profile named in the config (``~/.databrickscfg``), or
  ``DATABRICKS_*`` environment variables.
* git push over HTTPS: the GitHub token, handed to git per command through
  ``GIT_CONFIG_COUNT``/``GIT_CONFIG_KEY_<n>``/``GIT_CONFIG_VALUE_<n>`` environment variables (an
  ``http.extraHeader``, numbered after any the operator passes git that way), so it never lands
  in ``.git/config``, the remote URL or ``ps`` output.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .changes import SetupError, first_line

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping

    from databricks.sdk import AccountClient, WorkspaceClient
    from github import Github

    from .config import Settings

AUTH_PAGE = "index.md#authentication"


def github_token(env: dict[str, str] | None = None, host: str = "github.com") -> str:
    """A token for ``host``, looked up as ``gh`` does (:mod:`mlops_setup.ghhost`): github.com
    and GHE.com tenants ``GH_TOKEN``, then ``GITHUB_TOKEN``; a GitHub Enterprise Server
    ``GH_ENTERPRISE_TOKEN``, then ``GITHUB_ENTERPRISE_TOKEN``; then ``gh auth token --hostname
    HOST`` (the host named, so that ``GH_HOST`` or gh's default host cannot hand us the token
    of another GitHub)."""
    from . import ghhost

    env = os.environ if env is None else env
    names = ghhost.token_variables(host)
    for name in names:
        if env.get(name):
            return env[name]
    ask = ["auth", "token", "--hostname", host]
    gh = shutil.which("gh")
    if gh:
        try:
            done = subprocess.run(
                [gh, *ask], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            done = None
        if done is not None and done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    first, second = names
    raise _no_token(host, first, second, " ".join(["gh", *ask]))


def _no_token(host: str, first: str, second: str, asked: str) -> SetupError:
    return SetupError(
        f"no GitHub credentials for {host}: {first} and {second} are unset and `{asked}` gave none",
        fix=f"export {first}=<a token of {host} with repo and workflow scopes>, or run "
        f"`gh auth login --hostname {host}`",
        page=AUTH_PAGE,
    )


class Clients:
    """The API clients one run uses, built on first use."""

    def __init__(
        self, settings: Settings, *, env: dict[str, str] | None = None, probe: Any = None
    ) -> None:
        from .netcheck import Reachability

        self.settings = settings
        self.env = dict(os.environ if env is None else env)
        self._workspaces: dict[str, WorkspaceClient] = {}
        # one bounded first contact per host, remembered for the run (see netcheck)
        self.reach = Reachability(probe)

    # ----------------------------------------------------------------------------- GitHub
    @cached_property
    def github(self) -> Github:
        from . import ghhost

        gh = self.settings.github
        # the setting the operator wrote: github.host, unless github.api_url was set to a proxy
        derived = gh.api_url.rstrip("/").lower() == ghhost.api_url(gh.host)
        self.reach.require(gh.api_url, "github.host" if derived else "github.api_url")
        from github import Auth, Github

        from .lost import github_retry

        _quiet_pygithub()
        return Github(
            auth=Auth.Token(github_token(self.env, self.settings.github.host)),
            base_url=self.settings.github.api_url,
            timeout=30,
            # reads and rate limits retried; a write whose answer was lost is not repeated
            # blindly (mlops_setup.lost reads the truth first)
            retry=github_retry(total=5),
            # PyGithub's default throttle sleeps 0.25 s per read and 1 s per write; the
            # rate limits are honoured by the retry policy instead.
            seconds_between_requests=None,
            seconds_between_writes=None,
            per_page=100,
            api_version="2022-11-28",
        )

    # ------------------------------------------------------------------------- Databricks
    def _db_config(self, host: str, profile: str, key: str, **extra: Any) -> Any:
        self.reach.require(host, key)
        from databricks.sdk.config import Config

        _quiet_databricks()

        kwargs: dict[str, Any] = {
            "host": host,
            "http_timeout_seconds": 60,
            "retry_timeout_seconds": 300,
            **extra,
        }
        if profile:
            kwargs["profile"] = profile
        try:
            return Config(**kwargs)
        except ValueError as exc:  # the SDK raises ValueError for auth/profile problems
            where = f"profile {profile!r}" if profile else "DATABRICKS_* variables"
            raise SetupError(
                f"cannot authenticate to {host} with {where}: {first_line(exc)}",
                fix="run `databricks auth login --host "
                f"{host}` or set DATABRICKS_TOKEN/DATABRICKS_CLIENT_ID for that host",
                page=AUTH_PAGE,
            ) from None

    @cached_property
    def account(self) -> AccountClient:
        from databricks.sdk import AccountClient

        acct = self.settings.databricks.account
        return AccountClient(
            config=self._db_config(
                acct.host, acct.profile, "databricks.account.host", account_id=acct.id
            )
        )

    def workspace(self, env: str) -> WorkspaceClient:
        if env not in self._workspaces:
            from databricks.sdk import WorkspaceClient

            ws = self.settings.databricks.workspace(env)
            key = f"databricks.workspaces.{env}.host"
            self._workspaces[env] = WorkspaceClient(
                config=self._db_config(ws.host, ws.profile, key)
            )
        return self._workspaces[env]

    # ------------------------------------------------------------- Microsoft Graph (Azure)
    azure_credential: Any = None
    sleep: Any = None

    @cached_property
    def graph(self) -> Any:
        """Microsoft Graph for the Entra ID apps (``databricks.cloud: azure`` only)."""
        import time

        from .entra import Graph, default_credential

        credential = self.azure_credential or default_credential()
        return Graph(credential, self.sleep or time.sleep)

    # -------------------------------------------------------------------------------- git
    # git itself runs through mlops_setup.gitops.Git; this only supplies its auth environment.
    def git_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for a git command that talks to the remote: auth header, no prompts.

        ``base``: the environment git gets (default: this run's). Settings the operator passes
        git the same way (``GIT_CONFIG_COUNT``, ``GIT_CONFIG_KEY_<n>``) are kept: ours is
        numbered after them."""
        env = {"GIT_TERMINAL_PROMPT": "0"}
        url = self.settings.github.git_url
        self.reach.require(_as_url(url), "github.git_url")
        if url.startswith("https://"):
            given = (self.env if base is None else base).get("GIT_CONFIG_COUNT", "0") or "0"
            if not given.isdigit():
                raise SetupError(
                    f"GIT_CONFIG_COUNT is {given!r} in the environment, not a count; git would "
                    "refuse it: unset it or set it to the number of GIT_CONFIG_KEY_<n> you pass"
                )
            n = int(given)
            pair = f"x-access-token:{github_token(self.env, self.settings.github.host)}".encode()
            env.update(
                {
                    "GIT_CONFIG_COUNT": str(n + 1),
                    # scoped to the repo's URL: git sends it to that URL only, never to a
                    # redirect target or another remote
                    f"GIT_CONFIG_KEY_{n}": f"http.{url}.extraHeader",
                    f"GIT_CONFIG_VALUE_{n}": "Authorization: Basic "
                    + base64.b64encode(pair).decode(),
                }
            )
        return env


def _as_url(git_url: str) -> str:
    """A git URL as a URL (``git@host:path`` -> ``ssh://git@host/path``); "" for a local path."""
    import re

    if "://" in git_url:
        return "" if git_url.startswith("file://") else git_url
    scp = re.match(r"^([^@/]+@)?([^:/]+):(.*)$", git_url)
    return f"ssh://{scp.group(1) or ''}{scp.group(2)}/{scp.group(3)}" if scp else ""


def _quiet_databricks() -> None:
    """The SDK warns when a host serves no /.well-known/databricks-config; with no logging
    configured Python would print that on stderr at every run. Records still propagate to
    whatever logging the operator configures."""
    import logging

    logger = logging.getLogger("databricks.sdk")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


def _quiet_pygithub() -> None:
    """PyGithub attaches a stderr handler at INFO to its logger on import, so every retried
    request prints a line of its own. We report failures ourselves; its records still propagate
    to the root logger for anyone who configures logging."""
    import logging

    logger = logging.getLogger("github")
    for handler in list(logger.handlers):
        if type(handler) is logging.StreamHandler:
            logger.removeHandler(handler)
    from .logs import verbose

    if not verbose():  # -v: its debug log, masked (mlops_setup/logs.py)
        logger.setLevel(logging.WARNING)
