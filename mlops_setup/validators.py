"""Checks for values that reach git, the network or the file system, before any call is made.

Each ``check_*`` function returns ``None`` when the value is fine, else what was expected (the
loader prefixes the file and the key). They are plain functions (no pydantic), so the rules can
be read and tested alone:

* branch names follow git's own rules for a ref (``git check-ref-format --branch``), written out
  here so that no git process is needed to validate a config;
* nothing that becomes a git argument starts with ``-`` (``--upload-pack=...``, ``-f``);
* ``github.git_url`` is https or ssh (``ssh://git@github.com/...`` and ``git@github.com:o/r``
  are fine: ``git@`` is a user name, not a credential), or a local path (a mirror, the tests'
  bare repository); never ``ext::``/``fd::`` transport helpers, ``git://`` or ``http://``;
* ``github.api_url`` is https; plain http only for this machine (a local proxy or stub),
  since the GitHub token goes with every request;
* Databricks hosts belong to the configured cloud's domains, unless
  ``databricks.allow_other_hosts: true`` (a private-link or custom domain);
* credential-shaped values are refused wherever they sit (lists and nested mappings too).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Domains of Databricks hosts per cloud (workspaces and account consoles); a host must be one
# of these or end with "." + one of these.
CLOUD_DOMAINS: dict[str, tuple[str, ...]] = {
    "aws": ("cloud.databricks.com", "cloud.databricks.us", "cloud.databricks.mil"),
    "azure": ("azuredatabricks.net", "databricks.azure.cn", "databricks.azure.us"),
    "gcp": ("gcp.databricks.com",),
}
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def check_ref_name(name: str) -> str | None:
    """What is wrong with ``name`` as a branch name, by git's rules (``check-ref-format``
    applied to ``refs/heads/<name>``, plus ``--branch``'s own: no leading ``-``, not ``HEAD``);
    None if git would accept it."""
    why = None
    if not name:
        why = "it is empty"
    elif name.startswith("-"):
        why = "it starts with '-'"
    elif name == "HEAD":
        why = "HEAD is not a branch name"
    elif name == "@":
        why = "'@' alone is not a ref name"
    elif m := _REF_FORBIDDEN.search(name):
        shown = "a space" if m.group() == " " else repr(m.group())
        if ord(m.group()) < 0x20 or m.group() == "\x7f":
            shown = "a control character"
        why = f"it holds {shown}"
    elif ".." in name:
        why = "it holds '..'"
    elif "@{" in name:
        why = "it holds '@{'"
    elif name.startswith("/") or name.endswith("/") or "//" in name:
        why = "it has an empty part between '/'"
    elif name.endswith("."):
        why = "it ends with '.'"
    else:
        for part in name.split("/"):
            if part.startswith("."):
                why = "a part starts with '.'"
                break
            if part.endswith(".lock"):
                why = "a part ends with '.lock'"
                break
    return None if why is None else f"a git branch name ({why})"


def check_remote_name(name: str) -> str | None:
    """A git remote name: a valid ref part (``refs/remotes/<name>/...``), no leading ``-``."""
    why = check_ref_name(name)
    if why is None and "/" in name:
        why = "a git branch name (it holds '/')"
    return None if why is None else why.replace("a git branch name", "a git remote name", 1)


def check_not_option(value: str) -> str | None:
    return (
        "a value that does not start with '-' (git would read it as an option)"
        if (value.startswith("-"))
        else None
    )


def check_repo_name(name: str) -> str | None:
    if name in (".", "..") or name.lower().endswith(".git"):
        return "a repository name (not '.', '..', nor ending in .git)"
    return check_not_option(name)


def _has_password(url: str) -> bool:
    parts = urlsplit(url)
    return "@" in parts.netloc and ":" in parts.netloc.rsplit("@", 1)[0]


def check_git_url(url: str) -> str | None:
    """https or ssh (URL or ``user@host:path``), or a local path; see the module docstring."""
    wanted = "an https or ssh URL of the repository (or a local path)"
    if url.startswith("-"):
        return f"{wanted}, not something starting with '-'"
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*::", url):
        return f"{wanted}, not a git transport helper ('::')"
    if any(c in url for c in "\n\r\t\x00"):
        return f"{wanted} on one line"
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "https":
        netloc = urlsplit(url).netloc
        if "@" in netloc:  # a token as user name goes to .git/config and to logs
            return "a URL without a user or password in it (secrets never live in config)"
        return None if urlsplit(url).hostname else wanted
    if scheme == "ssh":
        if _has_password(url):
            return "a URL without a user or password in it (secrets never live in config)"
        return None if urlsplit(url).hostname else wanted
    if scheme == "file":
        return None
    if scheme:
        return f"{wanted}, not {scheme}://"
    if re.match(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:", url):  # scp-like: git@github.com:o/r.git
        return None
    if url.startswith(("/", "./", "../", "~")):
        return None
    return wanted


def check_api_url(url: str) -> str | None:
    """https; http only for this machine (the GitHub token goes with every request)."""
    parts = urlsplit(url)
    if _has_password(url) or "@" in parts.netloc:
        return "a URL without a user or password in it (secrets never live in config)"
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname in LOCAL_HOSTS:
        return None
    if parts.scheme == "http":
        return "an https URL (http would send the GitHub token in clear; only localhost may)"
    return "an https URL of the GitHub REST API"


def host_in_cloud(host_url: str, cloud: str) -> bool:
    """Is ``host_url``'s host one of ``cloud``'s Databricks domains?"""
    host = (urlsplit(host_url).hostname or "").lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in CLOUD_DOMAINS.get(cloud, ()))


def check_host(host_url: str, cloud: str, allow_other: bool) -> str | None:
    if allow_other or not host_url or host_in_cloud(host_url, cloud):
        return None
    domains = ", ".join(f"*.{d}" for d in CLOUD_DOMAINS.get(cloud, ()))
    return (
        f"a Databricks host of cloud {cloud} ({domains}); set databricks.allow_other_hosts: "
        "true for a private or custom domain"
    )


def check_relative_path(path: str) -> str | None:
    """A path inside the project: relative, no ``..``, no leading ``-``."""
    parts = path.replace("\\", "/").split("/")
    if not path or path.startswith(("/", "~")) or ".." in parts:
        return "a path inside the project folder (relative, without '..')"
    if "\x00" in path:
        return "a path without a NUL character"
    return check_not_option(path)
