"""One bounded first contact per host, and transport errors as one line.

The SDKs retry a host they cannot reach for minutes (databricks-sdk: ``retry_timeout_seconds``,
300 s, once per client; PyGithub: five retries), in silence. Before the first request to a host,
a run contacts it once (name lookup, TCP connection, TLS handshake and the first bytes of an
answer to ``HEAD /``; for ssh, the banner) within :data:`CONNECT_BUDGET` seconds, through the
proxy if one applies (``HTTPS_PROXY``/``NO_PROXY``).
The answer is remembered for the run (:class:`Reachability`), so ``setup.status`` asks each
host once, not once per step. A host that cannot be reached stops the step with one line that
names the host, the config key it came from and the likely cause (the name does not resolve,
the connection is refused, nothing answers: a VPN, firewall or proxy), exit code 1.

:func:`transport_error_text` turns any transport error of requests, urllib3 or httpx that gets
past that (a connection dropped later, a proxy failure) into the same kind of line, so none
ends in a traceback.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from .changes import SetupError

CONNECT_BUDGET = 5.0  # seconds for name lookup + TCP connect, per host, once per run

# host, port, budget, scheme=..., tunnel=... -> None (reachable) or the likely cause
Probe = Callable[..., "str | None"]


def _lookup(host: str, port: int, budget: float) -> list | str:
    """getaddrinfo has no timeout of its own: run it in a daemon thread and stop waiting."""
    found: list = []
    failed: list[BaseException] = []

    def work() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as exc:  # noqa: BLE001 - reported as a cause below
            failed.append(exc)

    worker = threading.Thread(target=work, daemon=True, name=f"lookup {host}")
    worker.start()
    worker.join(budget)
    if worker.is_alive():
        return f"the name lookup (DNS) did not answer within {budget:g}s"
    if failed or not found:
        return "the name does not resolve (DNS): a typo in the host, or no network or VPN"
    return found


def _connect(host: str, port: int, budget: float, start: float) -> socket.socket | str:
    """A TCP connection to ``host:port`` within what is left of ``budget``, or the cause."""
    addresses = _lookup(host, port, budget)
    if isinstance(addresses, str):
        return addresses
    last = "no address to connect to"
    for family, kind, proto, _, address in addresses:
        left = budget - (time.monotonic() - start)
        if left <= 0:
            break
        sock = socket.socket(family, kind, proto)
        sock.settimeout(left)
        try:
            sock.connect(address)
            return sock
        except TimeoutError:
            last = f"nothing answered within {budget:g}s (a firewall, VPN or proxy in the way?)"
        except ConnectionRefusedError:
            last = "the connection was refused (wrong host or port, or nothing listens there)"
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            last = f"{reason.lower()} (no network, or a VPN or firewall in the way?)"
        except Exception as exc:  # noqa: BLE001 - a sandbox that forbids sockets, say
            last = str(exc) or type(exc).__name__
        sock.close()
    return last


def _first_bytes(sock: socket.socket, request: bytes) -> bytes:
    if request:
        sock.sendall(request)
    return sock.recv(64)


def _ca_bundle() -> str | None:
    """The CA bundle requests verifies with (its own rules: the variables, else certifi)."""
    import os

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if os.environ.get(name):
            return os.environ[name]
    try:
        import certifi
    except ImportError:  # pragma: no cover - requests depends on it
        return None
    return certifi.where()


def probe(
    host: str,
    port: int,
    budget: float = CONNECT_BUDGET,
    *,
    scheme: str = "https",
    tunnel: tuple[str, int] | None = None,
) -> str | None:
    """None if ``host:port`` answers within ``budget`` seconds, else the likely cause in words.

    "Answers" means what the client would need first: for https a TLS handshake and the first
    bytes of an HTTP answer to ``HEAD /`` (any status: the host is there), for http the same
    without TLS, for ssh the server's banner. A TCP connection alone proves little: firewalls
    and proxies accept connections they never answer. Through a proxy (``tunnel`` = the real
    host), the proxy is connected to and asked to ``CONNECT`` first. No credential is sent.
    The certificate is checked as the clients check it (requests' CA bundle:
    ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, else certifi's): the SDK takes a certificate it
    refuses for a connection error and retries it for minutes."""
    import ssl

    start = time.monotonic()
    sock = _connect(host, port, budget, start)
    if isinstance(sock, str):
        return sock
    name = tunnel[0] if tunnel else host
    try:
        sock.settimeout(max(0.01, budget - (time.monotonic() - start)))
        if tunnel:
            target = f"{tunnel[0]}:{tunnel[1]}"
            line = _first_bytes(
                sock, f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode()
            )
            status = line.split(b"\r\n", 1)[0].decode("latin-1")
            if status.split(" ")[1:2] != ["200"]:
                return f"the proxy refused the tunnel ({status or 'no answer'})"
            while b"\r\n\r\n" not in line:  # the rest of the proxy's header
                more = sock.recv(256)
                if not more:
                    break
                line += more
        if scheme == "https":
            context = ssl.create_default_context(cafile=_ca_bundle())
            sock = context.wrap_socket(sock, server_hostname=name)
        if scheme in ("https", "http"):
            request = f"HEAD / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n"
            answer = _first_bytes(sock, request.encode())
        else:  # ssh (a banner), or anything else: the server speaks first or not at all
            answer = _first_bytes(sock, b"") if scheme == "ssh" else b"-"
    except TimeoutError:
        return (
            f"it accepted the connection but did not answer within {budget:g}s (a proxy or "
            "firewall that swallows connections, or not a web server?)"
        )
    except ssl.SSLCertVerificationError as exc:
        why = (exc.verify_message or exc.reason or "").rstrip(".")
        return (
            f"its TLS certificate is not accepted ({why}): the "
            "wrong host, or a proxy that inspects traffic (then set REQUESTS_CA_BUNDLE to its CA "
            "certificate)"
        )
    except ssl.SSLError as exc:
        return f"the TLS handshake failed ({exc.reason or type(exc).__name__})"
    except OSError as exc:
        return f"the connection dropped ({exc.strerror or type(exc).__name__})"
    finally:
        sock.close()
    if not answer:
        return "it closed the connection without answering"
    return None


def _proxy_for(url: str) -> tuple[str, int] | None:
    """The proxy requests would use for ``url`` (host, port), or None."""
    import urllib.request

    parts = urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if not proxy:  # no proxy: nothing to bypass (each lookup reads the whole environment)
        return None
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    p = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return (p.hostname, p.port or 8080) if p.hostname else None


def endpoint(url: str) -> tuple[str, int]:
    """(host, port) a client opens for ``url`` (https: 443, http: 80, ssh: 22)."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80, "ssh": 22}.get(parts.scheme, 443)
    return parts.hostname or "", parts.port or default


class Reachability:
    """Which hosts this run reached; each is contacted once (the answer is remembered)."""

    def __init__(self, probe_fn: Probe | None = None, budget: float = CONNECT_BUDGET) -> None:
        self.probe = probe_fn or probe
        self.budget = budget
        self.seen: dict[tuple[str, int], str | None] = {}

    def require(self, url: str, key: str, where: str = "") -> None:
        """Raise a one-line :class:`SetupError` unless ``url``'s host can be reached. ``key``
        is the config key the URL came from; ``where``, the file that set it."""
        host, port = endpoint(url)
        if not host:
            return
        via = _proxy_for(url) if url.startswith(("https://", "http://")) else None
        target = via or (host, port)
        scheme = urlsplit(url).scheme or "tcp"
        if target not in self.seen:
            self.seen[target] = self.probe(
                target[0],
                target[1],
                self.budget,
                scheme=scheme,
                tunnel=(host, port) if via else None,
            )
        cause = self.seen[target]
        if cause is None:
            return
        through = f" through proxy {via[0]}:{via[1]}" if via else ""
        setting = f"{key} in {where}" if where else key
        raise SetupError(
            f"cannot reach {host}{through} ({setting}): {cause}; nothing was sent there"
        )


_TRANSPORT_PACKAGES = ("requests", "urllib3", "httpx", "httpcore", "http", "ssl")


def _is_transport(exc: BaseException) -> bool:
    package = (type(exc).__module__ or "").split(".", 1)[0]
    return package in _TRANSPORT_PACKAGES or isinstance(exc, ConnectionError | socket.gaierror)


def transport_error_text(exc: BaseException) -> str | None:
    """One line for a transport failure anywhere in ``exc``'s chain (the SDK wraps the last
    connection error in a TimeoutError), naming the host if known; None if it is not one."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if _is_transport(seen):
            return f"{_host_of(seen) or 'a host'}: {type(seen).__name__}: {_reason(seen)}"
        seen = seen.__cause__ or seen.__context__
    return None


def _host_of(exc: BaseException) -> str:
    try:
        request = getattr(exc, "request", None)
    except RuntimeError:  # httpx: "The .request property has not been set."
        request = None
    url = getattr(request, "url", None)
    if url:
        return urlsplit(str(url)).hostname or ""
    pool = getattr(exc, "pool", None)
    if pool is not None and getattr(pool, "host", None):
        return str(pool.host)
    return ""


def _reason(exc: BaseException) -> str:
    """The innermost reason, without the long urllib3 repr (``HTTPSConnectionPool(...)``)."""
    inner = exc
    for _ in range(6):
        nested = getattr(inner, "reason", None) or (inner.args[0] if inner.args else None)
        if isinstance(nested, BaseException) and nested is not inner:
            inner = nested
            continue
        break
    text = str(inner).splitlines()[0] if str(inner) else type(inner).__name__
    if "Max retries exceeded" in text or "Connection" in type(inner).__name__:
        text = text.split(": ", 1)[-1]
    return text[:160]
