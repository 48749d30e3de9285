"""Unreachable hosts: one bounded first contact per host, remembered for the run; one line
naming the host, the config key and the likely cause; exit 1; never a traceback."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from mlops_setup import netcheck
from mlops_setup.netcheck import Reachability, probe, transport_error_text
from mlops_setup.session import api_error_text

STAGING = "staging.cloud.databricks.com"
BUDGET = 30.0  # the bound: the one line comes within this many seconds


# ------------------------------------------------------------------------------ the probe


def serve(answer: bytes | None):
    """A local server that answers each connection with ``answer`` (None: never answers)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held = []

    def loop():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            if answer is not None:
                conn.recv(1024)
                conn.sendall(answer)

    threading.Thread(target=loop, daemon=True).start()
    return server, server.getsockname()[1]


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_probe_wants_an_answer_not_only_a_connection():
    server, port = serve(b"HTTP/1.1 404 Not Found\r\n\r\n")
    try:
        assert probe("127.0.0.1", port, 2.0, scheme="http") is None  # any status: it is there
    finally:
        server.close()
    silent, port = serve(None)  # accepts, never answers: a swallowing firewall or proxy
    try:
        start = time.monotonic()
        cause = probe("127.0.0.1", port, 0.5, scheme="http")
        assert time.monotonic() - start < 1.5
        assert cause.startswith("it accepted the connection but did not answer within 0.5s")
        cause = probe("127.0.0.1", port, 0.5, scheme="https")  # the TLS handshake waits too
        assert cause.startswith("it accepted the connection but did not answer")
    finally:
        silent.close()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nothing listens on
    port = closed.getsockname()[1]
    start = time.monotonic()
    cause = probe("127.0.0.1", port, 2.0, scheme="http")
    closed.close()
    assert time.monotonic() - start < 2.0
    assert cause.startswith("the connection was refused")


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 signed by itself, and its key (PEM files)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_probe_checks_the_certificate_as_the_clients_do(tmp_path, monkeypatch):
    """A certificate the clients would refuse (a proxy inspecting traffic, the wrong host) is
    named at once: the SDK would take it for a connection error and retry it for minutes."""
    import ssl

    cert_file, key_file = self_signed(tmp_path)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)

    def loop():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            try:
                tls = context.wrap_socket(conn, server_side=True)
                tls.recv(1024)
                tls.sendall(b"HTTP/1.1 404 Not Found\r\n\r\n")
                tls.close()
            except (ssl.SSLError, OSError):
                conn.close()

    threading.Thread(target=loop, daemon=True).start()
    try:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
        monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
        cause = probe("127.0.0.1", port, 2.0, scheme="https")
        assert cause.startswith("its TLS certificate is not accepted (")
        assert "set REQUESTS_CA_BUNDLE to its CA certificate" in cause
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))  # as an operator would
        assert probe("127.0.0.1", port, 2.0, scheme="https") is None
    finally:
        server.close()


@pytest.mark.block_network(allowed_hosts=["127.0.0.1"])
def test_probe_through_a_proxy_asks_it_to_connect():
    proxy, port = serve(b"HTTP/1.1 403 Forbidden\r\n\r\n")
    try:
        cause = probe("127.0.0.1", port, 2.0, scheme="https", tunnel=("api.github.com", 443))
    finally:
        proxy.close()
    assert cause == "the proxy refused the tunnel (HTTP/1.1 403 Forbidden)"


def test_probe_names_a_name_that_does_not_resolve(monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    assert probe("adb-typo.cloud.databricks.com", 443, 1.0).startswith(
        "the name does not resolve (DNS)"
    )


def test_probe_gives_up_on_a_silent_host_within_its_budget(monkeypatch):
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", a[:2])]
    )

    def black_hole(self, address):
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket.socket, "connect", black_hole)
    assert probe("10.255.255.1", 443, 0.5).startswith("nothing answered within 0.5s")


def test_probe_bounds_a_name_lookup_that_hangs(monkeypatch):
    release = threading.Event()

    def hanging(*args, **kwargs):
        release.wait(5)
        raise socket.gaierror("late")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    start = time.monotonic()
    cause = probe("slow.example.com", 443, 0.3)
    release.set()
    assert time.monotonic() - start < 1.5
    assert cause == "the name lookup (DNS) did not answer within 0.3s"


def test_each_host_is_contacted_once_per_run():
    asked = []

    def counting(host, port, budget, **how):
        asked.append((host, port))
        return "the name does not resolve (DNS): a typo in the host, or no network or VPN"

    reach = Reachability(counting)
    for _ in range(3):
        with pytest.raises(Exception) as err:
            reach.require(f"https://{STAGING}", "databricks.workspaces.staging.host")
    assert asked == [(STAGING, 443)]
    assert str(err.value) == (
        f"cannot reach {STAGING} (databricks.workspaces.staging.host): the name does not "
        "resolve (DNS): a typo in the host, or no network or VPN; nothing was sent there"
    )


def test_the_proxy_is_what_gets_contacted(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    asked = []
    reach = Reachability(
        lambda h, p, b, **how: asked.append((h, p, how["tunnel"])) or "the connection was refused"
    )
    with pytest.raises(Exception, match=r"through proxy proxy\.corp\.example:3128"):
        reach.require("https://api.github.com", "github.api_url")
    assert asked == [("proxy.corp.example", 3128, ("api.github.com", 443))]


# ---------------------------------------------------------------------- through the tasks


def unreachable(asked):
    def probe_fn(host, port, budget, **how):
        asked.append(host)
        return "the name does not resolve (DNS): a typo in the host, or no network or VPN"

    return probe_fn


def test_setup_status_with_no_network_is_quick_and_exits_1(cli, runtime, http):
    asked: list[str] = []
    runtime.probe = unreachable(asked)
    start = time.monotonic()
    result = cli("setup.status")
    assert time.monotonic() - start < BUDGET
    assert result.code == 1
    assert "Traceback" not in result.err
    assert result.err.splitlines()[-1].startswith("setup.status: ")
    assert "blocked)" in result.err  # setup.status: N of 14 steps not done (..., N blocked)
    assert f"cannot reach {STAGING} (databricks.workspaces.staging.host)" in result.out
    assert len(asked) == len(set(asked))  # each host once, however many steps need it
    assert http() == []


def test_setup_plan_with_no_network_is_one_line(cli, runtime, http):
    asked: list[str] = []
    runtime.probe = unreachable(asked)
    result = cli("setup.plan")
    assert result.code == 1
    assert result.err.splitlines()[:3] == [
        "error: 2 prerequisites missing; nothing was changed",
        f"  - workspace staging (https://{STAGING}): cannot reach {STAGING} "
        "(databricks.workspaces.staging.host): the name does not resolve (DNS): a typo in the "
        "host, or no network or VPN; nothing was sent there",
        "  - workspace prod (https://prod.cloud.databricks.com): cannot reach "
        "prod.cloud.databricks.com (databricks.workspaces.prod.host): the name does not resolve "
        "(DNS): a typo in the host, or no network or VPN; nothing was sent there",
    ]
    assert "Traceback" not in result.err
    assert http() == []


def test_github_unreachable_is_one_line(cli, runtime, http):
    """``GITHUB_TOKEN=x invoke repo.create --dry-run`` with no network: one line, exit 1."""
    asked: list[str] = []
    runtime.probe = unreachable(asked)
    result = cli("repo.create", "--dry-run")
    assert result.code == 1
    assert result.err.splitlines() == [
        "error: cannot reach api.github.com (github.host): the name does not resolve (DNS): "
        "a typo in the host, or no network or VPN; nothing was sent there"
    ]
    assert asked == ["api.github.com"]


def test_a_connection_dropped_later_is_one_line_not_a_traceback(cli, monkeypatch, no_sleep):
    """The host answered the first contact, then the connection fails: PyGithub's retries run
    out (the sleeps are recorded, not slept) and the error is one line."""
    import urllib3.connectionpool
    from urllib3.exceptions import NewConnectionError

    def refuse(pool, conn, method, url, *args, **kwargs):
        raise NewConnectionError(conn, "Failed to establish a new connection: [Errno 111]")

    monkeypatch.setattr(urllib3.connectionpool.HTTPConnectionPool, "_make_request", refuse)
    result = cli("repo.create", "--dry-run")
    assert result.code == 1
    assert "Traceback" not in result.err
    (line,) = result.err.splitlines()
    assert line.startswith("error: cannot reach api.github.com: ConnectionError: ")


# ------------------------------------------------------------------- transport errors, named


def transport_errors():
    import httpx
    import requests
    import urllib3.exceptions

    req = requests.Request("GET", f"https://{STAGING}/api/2.0/x").prepare()
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")
    pooled = urllib3.exceptions.MaxRetryError(None, "/api/2.0/x", refused)
    conn = requests.ConnectionError(pooled, request=req)
    try:
        raise TimeoutError("Timed out after 0:05:00") from conn  # how the SDK gives up
    except TimeoutError as exc:
        sdk = exc
    return [
        conn,
        sdk,
        requests.ReadTimeout("read timed out", request=req),
        requests.exceptions.SSLError("certificate verify failed", request=req),
        urllib3.exceptions.ProtocolError("Connection aborted."),
        httpx.ConnectError("All connection attempts failed"),
        httpx.ReadTimeout("timed out"),
    ]


@pytest.mark.parametrize("exc", transport_errors(), ids=lambda e: type(e).__name__)
def test_every_transport_error_is_one_line(exc):
    text = api_error_text(exc)
    assert text is not None and text.startswith("cannot reach ")
    assert "\n" not in text
    assert transport_error_text(ValueError("not one")) is None


def test_connect_budget_is_seconds_not_minutes():
    assert netcheck.CONNECT_BUDGET <= 10
