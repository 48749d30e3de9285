"""Which GitHub: github.com, a GitHub Enterprise Server, or a GHE.com tenant (``github.host``).

Everything host-specific follows from that one setting (standard library only; ``invoke
--list`` may import this):

* ``github.com``: API ``https://api.github.com``, web and git ``https://github.com``, OIDC
  issuer ``https://token.actions.githubusercontent.com``;
* a GitHub Enterprise Server host (``ghe.example.com``): API ``https://HOST/api/v3``, web and
  git ``https://HOST``, issuer ``https://HOST/_services/token``;
* a GHE.com tenant (``acme.ghe.com``, data residency): API ``https://api.acme.ghe.com``, web and
  git ``https://acme.ghe.com``, issuer ``https://token.actions.acme.ghe.com``.

Sources:

* API roots: GitHub's REST docs (GHES: ``http(s)://HOSTNAME/api/v3``); GHE.com: github/docs,
  ``content/admin/data-residency/feature-overview-for-github-enterprise-cloud-with-data-residency.md``
  ("URL differences": API ``https://api.SUBDOMAIN.ghe.com``, OIDC token issued from
  ``https://token.actions.SUBDOMAIN.ghe.com``).
* GHES issuer: github/docs, the OIDC reference (the ``iss`` claim and the cloud guides give
  ``https://HOSTNAME/_services/token`` for GHES).
* Tokens, as ``gh`` looks them up (``gh help environment``,
  https://cli.github.com/manual/gh_help_environment): ``GH_TOKEN``, then ``GITHUB_TOKEN`` for
  github.com and for GHE.com tenants (subdomains of ghe.com); ``GH_ENTERPRISE_TOKEN``,
  then ``GITHUB_ENTERPRISE_TOKEN`` for a GitHub Enterprise Server host; then the stored login,
  ``gh auth token --hostname HOST``.
"""

from __future__ import annotations

import re

GITHUB_COM = "github.com"
TENANT_DOMAIN = ".ghe.com"
KINDS = ("github.com", "ghe.com", "ghes")
# the template's two GitHub Actions variants (input_cicd_platform), github/databricks mlops-stacks
GITHUB_ACTIONS = "github_actions"
GHES_PLATFORM = "github_actions_for_github_enterprise_servers"

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")


def kind(host: str) -> str:
    """``github.com``, ``ghe.com`` (a data-residency tenant) or ``ghes`` (a server)."""
    host = host.lower()
    if host == GITHUB_COM:
        return "github.com"
    if host.endswith(TENANT_DOMAIN):
        return "ghe.com"
    return "ghes"


def check_host(host: str) -> str | None:
    """What ``github.host`` should have been (None when fine): a bare host name."""
    example = "a host name such as github.com, ghe.example.com or acme.ghe.com"
    if not isinstance(host, str) or not host:
        return example
    if "://" in host:
        bare = host.split("://", 1)[1].split("/", 1)[0]
        return f"{example}, without a scheme ({bare!r}, not {host!r})"
    if "/" in host:
        return f"{example}, without a path ({host.split('/', 1)[0]!r})"
    if "@" in host or ":" in host:
        return f"{example} (no user, password or port)"
    name = host.lower().rstrip(".")
    if not _HOSTNAME.match(name) or len(name) > 253:
        return f"{example} (letters, digits, '-' and '.' only)"
    if name == "api.github.com":
        return "github.com (the API root https://api.github.com follows from it)"
    if name.startswith("api.") and name.endswith(TENANT_DOMAIN):
        return f"{name[4:]} (the API root https://{name} follows from it)"
    if name == TENANT_DOMAIN[1:] or (name.count(".") > 2 and name.endswith(TENANT_DOMAIN)):
        return "a GHE.com tenant as TENANT.ghe.com"
    return None


def normalize(host: str) -> str:
    return host.lower().rstrip(".")


# Per kind of host: the API root, the uploads root, the Actions OIDC issuer ({host}: the host).
_URLS = {
    "github.com": {
        "api": "https://api.github.com",
        "uploads": "https://uploads.github.com",
        "issuer": "https://token.actions.githubusercontent.com",
    },
    "ghe.com": {
        "api": "https://api.{host}",
        "uploads": "https://uploads.{host}",
        "issuer": "https://token.actions.{host}",
    },
    "ghes": {
        "api": "https://{host}/api/v3",
        "uploads": "https://{host}/api/uploads",
        "issuer": "https://{host}/_services/token",
    },
}


def _url(what: str, host: str) -> str:
    host = normalize(host)
    return _URLS[kind(host)][what].format(host=host)


def api_url(host: str) -> str:
    """The REST API root for ``host``."""
    return _url("api", host)


def web_url(host: str) -> str:
    """Where people (and git over https) find repos: ``https://HOST``."""
    return f"https://{normalize(host)}"


def uploads_url(host: str) -> str:
    return _url("uploads", host)


def oidc_issuer(host: str) -> str:
    """The ``iss`` of the OIDC tokens GitHub Actions jobs on ``host`` get."""
    return _url("issuer", host)


def token_variables(host: str) -> tuple[str, str]:
    """The environment variables ``gh`` reads a token for ``host`` from, in its order."""
    if kind(host) == "ghes":
        return ("GH_ENTERPRISE_TOKEN", "GITHUB_ENTERPRISE_TOKEN")
    return ("GH_TOKEN", "GITHUB_TOKEN")


def api_host(host: str) -> str:
    """The host name of :func:`api_url` (``api.github.com``, the server, ``api.TENANT...``)."""
    return api_url(host).split("://", 1)[1].split("/", 1)[0]
