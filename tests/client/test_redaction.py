"""A gateway that echoes the request back cannot put a secret into any error, traceback or log line."""

from __future__ import annotations

import json
import logging
import pickle
import threading
import traceback
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_douyin.client import DouyinError, DouyinRequestError, InMemoryTokenStore, RetryPolicy
from airflow_provider_douyin.client.redaction import MASK, get_logger, is_registered, redact, register_secret

from .fakes import APP_SECRET, envelope, stored_pair

FORMATTER = logging.Formatter("%(name)s %(levelname)s %(message)s")


class EchoGateway(BaseHTTPRequestHandler):
    """Answers every call with an error that quotes the whole request, as a debugging gateway might.

    The request's tokens are quoted both keyed (query string, JSON body) and as bare words, and the
    app secret as a bare word, so both the patterns and the registry of known secrets are exercised.
    """

    received: list[dict[str, str]] = []
    replies: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        query = dict(parse_qsl(urlsplit(self.path).query))
        fields = {**query, **json.loads(body or "{}")}
        EchoGateway.received.append(fields)
        bare = " ".join(value for key, value in fields.items() if key.endswith("token"))
        echo = f"POST {self.path} body={body} params={json.dumps(query)} tokens {bare}"
        if self.path.startswith("/order/html"):
            status, content_type = 502, "text/html"
            reply = f"<html><body><h1>502 Bad Gateway</h1><pre>{echo}</pre></body></html>".encode()
        else:
            status, content_type = 200, "application/json"
            failure = envelope(
                50002,
                sub_code="isv.business-failed:99999",
                msg=f"invalid request {echo}",
                sub_msg=f"signature base used {APP_SECRET}; request form: {urlsplit(self.path).query}",
            )
            reply = json.dumps(failure).encode()
        EchoGateway.replies.append(reply)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo_gateway() -> Iterator[str]:
    EchoGateway.received, EchoGateway.replies = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), EchoGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def exception_texts(error: BaseException) -> list[str]:
    attributes = [repr(value) for value in vars(error).values()] + [repr(arg) for arg in error.args]
    formatted = "".join(traceback.format_exception(error))
    return [str(error), repr(error), formatted, *attributes, repr(pickle.loads(pickle.dumps(error)).__dict__)]


def record_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = []
    for record in caplog.records:
        texts.append(FORMATTER.format(record) + repr(record.__dict__))
        if record.exc_info:
            texts.append("".join(traceback.format_exception(*record.exc_info)))
    return texts


def test_an_echoing_gateway_leaks_no_secret(
    echo_gateway: str, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fresh = stored_pair(suffix="echo-fresh")
    expiring = stored_pair(access_ttl=-1.0, suffix="echo-expiring")  # expired: refreshed first
    retry = RetryPolicy(max_attempts=2, initial=0.0, maximum=0.0)
    failures: list[DouyinError] = []
    for pair, method in ((fresh, "order.searchList"), (fresh, "order.html"), (expiring, "order.searchList")):
        client = make_client(base_url=echo_gateway, token_store=InMemoryTokenStore(pair), retry=retry)
        with pytest.raises(DouyinError) as info:
            client.call(method, {"page": 0, "size": 1})
        failures.append(info.value)
        client.close()

    signs = {request["sign"] for request in EchoGateway.received}
    secrets = {fresh.access_token, expiring.refresh_token, APP_SECRET, *signs}
    raw_replies = b"".join(EchoGateway.replies).decode()
    # The gateway really echoed every one of them back to the client.
    assert all(secret in raw_replies for secret in secrets), "the echo did not carry the secrets"
    assert any(request.get("refresh_token") == expiring.refresh_token for request in EchoGateway.received)
    assert any(
        b"502 Bad Gateway" in reply and fresh.access_token.encode() in reply for reply in EchoGateway.replies
    )

    texts = [text for error in failures for text in exception_texts(error)] + record_texts(caplog)
    assert [secret for secret in secrets if any(secret in text for text in texts)] == []
    # ...while the errors still say what happened.
    assert isinstance(failures[0], DouyinRequestError)
    assert "invalid request POST /order/searchList?" in failures[0].msg
    assert f"access_token={MASK}" in failures[0].msg and f"sign={MASK}" in failures[0].msg
    assert failures[0].sub_code == "isv.business-failed:99999"
    assert "http_status=502" in str(failures[1])
    assert any(record.name == "urllib3.connectionpool" for record in caplog.records)  # the scan saw them


def test_values_shorter_than_eight_characters_are_never_registered() -> None:
    for short in ("self", "10", "seven77"):
        register_secret(short)
        assert not is_registered(short)
    register_secret("eight888")
    assert is_registered("eight888")
    assert (
        redact("auth_mode=self qps=10 id=seven77 x=eight888") == f"auth_mode=self qps=10 id=seven77 x={MASK}"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "GET /a?app_key=1&access_token=act.q1&sign=ab12&v=2",
            f"GET /a?app_key=1&access_token={MASK}&sign={MASK}&v=2",
        ),
        (
            '{"refresh_token": "rft.j1", "sign_method": "md5"}',
            f'{{"refresh_token": "{MASK}", "sign_method": "md5"}}',
        ),
        ('msg: {\\"access_token\\":\\"act.esc\\"}', f'msg: {{\\"access_token\\":\\"{MASK}\\"}}'),
        ("client_secret=cs1 app_secret = as1; grant=x", f"client_secret={MASK} app_secret = {MASK}; grant=x"),
        ("next=%2Fcb%3Faccess_token%3Dact.enc", f"next=%2Fcb%3Faccess_token%3D{MASK}"),
        ("{'access_token': 'act.py'}", f"{{'access_token': '{MASK}'}}"),
        (
            "isv.signature-invalid: check app_secret and sign_method",
            "isv.signature-invalid: check app_secret and sign_method",
        ),
    ],
)
def test_secret_parameters_are_masked_in_every_notation(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # idempotent: redacting a redacted text changes nothing


def test_provider_loggers_redact_the_final_message_and_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = get_logger("airflow_provider_douyin.test_redaction")
    caplog.set_level(logging.DEBUG)
    try:
        raise ValueError("upstream said access_token=act.from-a-traceback")
    except ValueError:
        log.exception("call to %s failed", "/order?sign=deadbeef")

    (record,) = [r for r in caplog.records if r.name == log.name]
    assert record.getMessage() == f"call to /order?sign={MASK} failed"
    assert record.exc_info is None and f"access_token={MASK}" in (record.exc_text or "")
    assert "act.from-a-traceback" not in caplog.text and "deadbeef" not in caplog.text
