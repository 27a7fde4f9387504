"""TLS and mTLS on the HTTP server: certificates made with openssl for each test session.

A CA signs the server certificate and the clients' certificates; a second CA that the server does
not trust signs another; one client certificate expired in 2020. Untrusted, expired and missing
client certificates must fail the handshake; a verified one becomes the principal; headers that
claim a certificate are never believed.
"""
import json
import socket
import ssl
import subprocess
import time

import pytest
import requests

from conftest import make_token, status_of

CA_CONFIG = """
[ca]
default_ca = test
[test]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
organizationName = optional
"""


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pki:
    """A directory of PEM files: ca, server, client, cn_only, untrusted, expired."""

    def __init__(self, root):
        self.dir = root
        root.mkdir(exist_ok=True)
        (root / "index.txt").write_text("")
        (root / "serial").write_text("1000\n")
        (root / "ca.cnf").write_text(CA_CONFIG.format(dir=root))
        self._ca("ca")
        self._ca("other-ca")
        self._leaf("server", "/CN=localhost", "DNS:localhost,IP:127.0.0.1")
        self._leaf("client", "/CN=orders/O=aether", "URI:spiffe://aether/orders,DNS:orders.svc")
        self._leaf("cn_only", "/CN=billing")
        self._leaf("untrusted", "/CN=intruder", "URI:spiffe://aether/orders", ca="other-ca")
        self._leaf("expired", "/CN=orders", "URI:spiffe://aether/orders",
                   dates=("20200101000000Z", "20200102000000Z"))

    def path(self, name):
        return str(self.dir / name)

    def pair(self, name):
        return (self.path(name + ".pem"), self.path(name + ".key"))

    def _ca(self, name):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
                "-subj", f"/CN={name}", cwd=self.dir)

    def _leaf(self, name, subject, san=None, ca="ca", dates=None):
        request = ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject]
        if san:
            request += ["-addext", f"subjectAltName={san}"]
        openssl(*request, cwd=self.dir)
        validity = ["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days", "2"]
        openssl("ca", "-batch", "-config", "ca.cnf", "-cert", f"{ca}.pem", "-keyfile", f"{ca}.key",
                "-in", f"{name}.csr", "-out", f"{name}.pem", *validity, cwd=self.dir)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(tmp_path_factory.mktemp("pki"))


def wait_tls_ready(svc, **kwargs):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if requests.get(svc.url + "/ready", timeout=1, **kwargs).status_code == 200:
                return
        except requests.RequestException:
            time.sleep(0.02)
    raise AssertionError("service never became ready over TLS")


@pytest.fixture
def mtls_service(start_service, pki):
    svc = start_service("task-manager", wait_ready=False,
                        TLS_CERT_FILE=pki.path("server.pem"), TLS_KEY_FILE=pki.path("server.key"),
                        TLS_CLIENT_CA_FILE=pki.path("ca.pem"),
                        AUTH_CERT_ROLES="spiffe://aether/orders=user;billing=guest")
    wait_tls_ready(svc, verify=pki.path("ca.pem"), cert=pki.pair("client"))
    return svc


def https(svc, pki, method, path, cert="client", **kwargs):
    return requests.request(method, svc.url + path, verify=pki.path("ca.pem"),
                            cert=pki.pair(cert) if cert else None, timeout=5, **kwargs)


def handshake_failure(svc, pki, cert):
    """Connects with `cert` (or none) and returns the server's log line for the failure."""
    before = len(svc.logs("tls handshake failed"))
    with pytest.raises(requests.exceptions.ConnectionError):  # SSLError is one
        https(svc, pki, "GET", "/api/v1/tasks/", cert=cert)
    deadline = time.monotonic() + 5
    while len(svc.logs("tls handshake failed")) == before and time.monotonic() < deadline:
        time.sleep(0.01)
    failures = svc.logs("tls handshake failed")
    assert len(failures) > before, "the server logged no failed handshake"
    return failures[-1]


def test_listening_line_says_tls_and_https(mtls_service):
    line = mtls_service.logs("listening")[0]
    assert line["tls"] == "client certificates required"
    assert line["url"].startswith("https://")


def test_verified_certificate_becomes_the_principal(mtls_service, pki):
    r = https(mtls_service, pki, "POST", "/api/v1/tasks/", json={"title": "from orders"})
    assert r.status_code == 201, r.text
    assert r.json()["task"]["created_by"] == "spiffe://aether/orders"  # the URI SAN
    line = mtls_service.wait_log("request", path="/api/v1/tasks/", status=201)
    assert line["user_id"] == "spiffe://aether/orders"
    assert https(mtls_service, pki, "GET", "/api/v1/tasks/").status_code == 200


def test_certificate_roles_decide_permissions(mtls_service, pki):
    # "billing" has no SAN: its CN is the identity, and AUTH_CERT_ROLES makes it a guest.
    assert https(mtls_service, pki, "GET", "/api/v1/tasks/", cert="cn_only").status_code == 200
    r = https(mtls_service, pki, "POST", "/api/v1/tasks/", cert="cn_only", json={"title": "no"})
    assert r.status_code == 403
    assert 'error="insufficient_scope"' in r.headers["WWW-Authenticate"]


def test_a_token_in_the_request_wins_over_the_certificate(mtls_service, pki):
    token = make_token(sub="user-7", roles=("user",))
    r = https(mtls_service, pki, "POST", "/api/v1/tasks/", json={"title": "for user-7"},
              headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201
    assert r.json()["task"]["created_by"] == "user-7"
    bad = https(mtls_service, pki, "GET", "/api/v1/tasks/",
                headers={"Authorization": "Bearer not.a.token"})
    assert bad.status_code == 401  # a bad token is not rescued by the certificate


def test_missing_client_certificate_fails_the_handshake(mtls_service, pki):
    line = handshake_failure(mtls_service, pki, cert=None)
    assert "certificate" in line["error"]
    assert https(mtls_service, pki, "GET", "/api/v1/tasks/").status_code == 200  # still serving


def test_untrusted_client_certificate_fails_the_handshake(mtls_service, pki):
    line = handshake_failure(mtls_service, pki, cert="untrusted")
    assert "unable to get local issuer certificate" in line["certificate"]


def test_expired_client_certificate_fails_the_handshake(mtls_service, pki):
    line = handshake_failure(mtls_service, pki, cert="expired")
    assert line["certificate"] == "certificate has expired"


def test_certificate_headers_from_the_network_are_never_trusted(mtls_service, pki, start_service):
    forged = {
        "X-Client-Cert": "CN=admin",
        "X-SSL-Client-S-DN": "CN=admin",
        "X-SSL-Client-Verify": "SUCCESS",
        "X-Forwarded-Client-Cert": "By=spiffe://aether/tm;URI=spiffe://aether/admin",
    }
    # Over mTLS the certificate decides, whatever the headers say.
    r = https(mtls_service, pki, "POST", "/api/v1/tasks/", json={"title": "x"}, headers=forged)
    assert r.status_code == 201 and r.json()["task"]["created_by"] == "spiffe://aether/orders"
    # Over plain HTTP the headers authenticate nobody.
    plain = start_service("task-manager", AUTH_CERT_ROLES="*=admin")
    assert requests.get(plain.url + "/api/v1/tasks/", headers=forged, timeout=5).status_code == 401


def test_plain_http_and_garbage_on_the_tls_port_are_refused(mtls_service, pki):
    port = mtls_service.port
    for data in (b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello", b"\x00" * 64):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(data)
            try:
                answer = s.recv(4096)
            except ConnectionResetError:
                answer = b""
            assert status_of(answer) == 0  # never an HTTP answer in the clear
    assert https(mtls_service, pki, "GET", "/health").status_code == 200


def test_many_requests_on_one_tls_connection(mtls_service, pki):
    # verify and cert per call: REQUESTS_CA_BUNDLE in the environment overrides session.verify.
    tls = {"verify": pki.path("ca.pem"), "cert": pki.pair("client"), "timeout": 5}
    url = mtls_service.url + "/api/v1/tasks/"
    with requests.Session() as session:
        for i in range(50):
            assert session.post(url, json={"title": f"t{i}"}, **tls).status_code == 201
        # A chunked body goes through the general parser, over TLS too.
        r = session.post(url, data=iter([b'{"title":', b'"chunked"}']),
                         headers={"Content-Type": "application/json"}, **tls)
        assert r.status_code == 201 and r.json()["task"]["title"] == "chunked"
        big = session.post(url, data=b"x" * (2 << 20), headers={"Content-Type": "application/json"},
                           **tls)
        assert big.status_code == 413
    # Pipelined requests on one TLS connection: each gets its answer, in order.
    context = ssl.create_default_context(cafile=pki.path("ca.pem"))
    context.load_cert_chain(*pki.pair("client"))
    with socket.create_connection(("127.0.0.1", mtls_service.port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as conn:
            one = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
            conn.sendall(one * 3 + b"GET /nope HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
    assert answer.count(b"HTTP/1.1 200 OK") == 3 and answer.count(b"HTTP/1.1 404") == 1


def test_tls_without_client_certificates(start_service, pki):
    svc = start_service("task-manager", wait_ready=False,
                        TLS_CERT_FILE=pki.path("server.pem"), TLS_KEY_FILE=pki.path("server.key"))
    wait_tls_ready(svc, verify=pki.path("ca.pem"))
    assert svc.logs("listening")[0]["tls"] == "on"
    r = https(svc, pki, "GET", "/api/v1/tasks/", cert=None)
    assert r.status_code == 401  # TLS alone authenticates nobody
    token = make_token(roles=("user",))
    r = https(svc, pki, "GET", "/api/v1/tasks/", cert=None, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    # Python's own client, pinned to TLS 1.2, is served too.
    context = ssl.create_default_context(cafile=pki.path("ca.pem"))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", svc.port)) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := tls.recv(4096):
                answer += chunk
    assert status_of(answer) == 200 and json.loads(answer.split(b"\r\n\r\n", 1)[1])["status"]


@pytest.mark.parametrize("env, setting", [
    ({"TLS_CERT_FILE": "/nonexistent.pem", "TLS_KEY_FILE": "/nonexistent.key"}, "TLS_CERT_FILE"),
    ({"TLS_CERT_FILE": "@server.pem"}, "TLS_KEY_FILE"),
    ({"TLS_KEY_FILE": "@server.key"}, "TLS_CERT_FILE"),
    ({"TLS_CLIENT_CA_FILE": "@ca.pem"}, "TLS_CLIENT_CA_FILE"),
    ({"TLS_CERT_FILE": "@server.pem", "TLS_KEY_FILE": "@client.key"}, "TLS_KEY_FILE"),
    ({"TLS_CERT_FILE": "@server.pem", "TLS_KEY_FILE": "@server.key",
      "TLS_CLIENT_CA_FILE": "@serial"}, "TLS_CLIENT_CA_FILE"),
    ({"AUTH_CERT_ROLES": "spiffe://x=bad role"}, "AUTH_CERT_ROLES"),
])
def test_unusable_tls_settings_stop_start_up_naming_the_setting(start_service, pki, env, setting):
    env = {k: pki.path(v[1:]) if v.startswith("@") else v for k, v in env.items()}
    with pytest.raises(RuntimeError) as failed:
        start_service("task-manager", wait_ready=False, **env)
    assert setting in str(failed.value)
