"""A reply that drips, in its headers or its body, fails at the attempt deadline and within the call budget.

The gateway here is a raw socket server that answers every request one byte every 0.5 s, so a socket
read timeout (per ``recv``) never fires: only a total deadline ends the call.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from airflow_provider_douyin.client import DouyinDeadlineError, RetryPolicy, Transport
from airflow_provider_douyin.client.doudian import DoudianProtocol

from .fakes import APP_KEY, APP_SECRET, envelope

DRIP_INTERVAL = 0.5
SLACK = 1.5
BODY = json.dumps(envelope(data={"padding": "x" * 400})).encode()
HEADERS = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()


@dataclass
class DrippingGateway:
    """Sends the whole ``HEADERS`` at once and drips ``BODY``, or drips from the first header byte."""

    drip_headers: bool
    tls: ssl.SSLContext | None = None
    url: str = ""
    requests: int = 0
    bytes_sent: list[int] = field(default_factory=list)
    last_send: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def serve(self, listener: socket.socket) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        if self.tls:
            conn = self.tls.wrap_socket(conn, server_side=True)
        with conn:
            self._read_request(conn)
            self.requests += 1
            index = len(self.bytes_sent)
            self.bytes_sent.append(0)
            reply = HEADERS + BODY
            burst = 0 if self.drip_headers else len(HEADERS)
            try:
                if burst:
                    conn.sendall(reply[:burst])
                for offset in range(burst, len(reply)):
                    if self.stop.wait(DRIP_INTERVAL):
                        return
                    conn.sendall(reply[offset : offset + 1])
                    self.bytes_sent[index] = offset + 1
                    self.last_send = time.monotonic()
            except OSError:  # the client gave up: what the deadline is for
                return

    @staticmethod
    def _read_request(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.lower().split(b"\r\n")
        length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
        while len(body) < length:
            body += conn.recv(65536)


def _gateway(drip_headers: bool, tls: ssl.SSLContext | None = None) -> Iterator[DrippingGateway]:
    gateway = DrippingGateway(drip_headers=drip_headers, tls=tls)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)  # so the accept loop sees ``stop``
    gateway.url = f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}"
    thread = threading.Thread(target=gateway.serve, args=(listener,), daemon=True)
    thread.start()
    yield gateway
    gateway.stop.set()
    listener.close()
    thread.join(5)


def _self_signed_context(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A TLS server context for 127.0.0.1 and the certificate file a client must trust."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    loopback = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(loopback, critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


@pytest.fixture
def body_drip() -> Iterator[DrippingGateway]:
    yield from _gateway(drip_headers=False)


@pytest.fixture
def header_drip() -> Iterator[DrippingGateway]:
    yield from _gateway(drip_headers=True)


@pytest.fixture
def tls_header_drip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DrippingGateway]:
    """The production path: HTTPS, where the watchdog must wake a read blocked inside TLS."""
    context, cert_file = _self_signed_context(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))  # requests verifies against it
    yield from _gateway(drip_headers=True, tls=context)


def transport(gateway: DrippingGateway, *, deadline: float | None, policy: RetryPolicy) -> Transport:
    protocol = DoudianProtocol(app_key=APP_KEY, app_secret=APP_SECRET, base_url=gateway.url)
    return Transport(protocol, retry=policy, timeout=(5.0, 30.0), deadline=deadline)


def timed_failure(client: Transport) -> tuple[DouyinDeadlineError, float]:
    started = time.monotonic()
    with pytest.raises(DouyinDeadlineError) as info:
        client.request("order.searchList", {"page": 0, "size": 1}, access_token="act.deadline-test-0001")
    return info.value, time.monotonic() - started


@pytest.mark.parametrize("gateway_fixture", ["body_drip", "header_drip", "tls_header_drip"])
def test_a_dripping_reply_fails_at_the_deadline(gateway_fixture: str, request: pytest.FixtureRequest) -> None:
    gateway: DrippingGateway = request.getfixturevalue(gateway_fixture)
    client = transport(gateway, deadline=2.0, policy=RetryPolicy(max_attempts=1))

    error, elapsed = timed_failure(client)
    failed_at = time.monotonic()
    client.close()

    assert 2.0 - 0.1 <= elapsed < 2.0 + SLACK
    assert str(error).startswith(
        "order.searchList failed: msg=no complete response within the 2s deadline (the deadline; "
    )
    assert error.method == "order.searchList"
    # The server was still mid-reply: it had sent a few bytes, the last one just before the deadline.
    sent = gateway.bytes_sent[0]
    assert 2 <= sent < len(HEADERS if gateway.drip_headers else HEADERS + BODY)
    assert failed_at - gateway.last_send < DRIP_INTERVAL + 0.5


def test_retries_of_slow_attempts_end_within_the_call_budget(body_drip: DrippingGateway) -> None:
    policy = RetryPolicy(max_attempts=100, max_delay=4.0, initial=0.1, maximum=0.1)
    client = transport(body_drip, deadline=1.5, policy=policy)

    _error, elapsed = timed_failure(client)
    client.close()

    assert elapsed < 4.0 + SLACK
    assert body_drip.requests >= 2  # it did retry, and every attempt was cut at its deadline
    assert all(sent < len(HEADERS + BODY) for sent in body_drip.bytes_sent)


def test_the_budget_also_cuts_an_attempt_without_a_deadline(body_drip: DrippingGateway) -> None:
    client = transport(body_drip, deadline=None, policy=RetryPolicy(max_attempts=3, max_delay=2.0))

    error, elapsed = timed_failure(client)
    client.close()

    assert "(the rest of the call's retry budget; connect, headers and body)" in str(error)
    assert 2.0 - 0.1 <= elapsed < 2.0 + SLACK
    assert body_drip.requests == 1
