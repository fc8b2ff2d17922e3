"""No secret (app_secret, access or refresh token) in any log record, exception or repr."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from airflow_provider_douyin.client import DouyinError, InMemoryTokenStore

from .fakes import APP_SECRET, envelope, stored_pair
from .sandbox_gateway import PROBE, SandboxGateway

FORMATTER = logging.Formatter("%(name)s %(levelname)s %(message)s")


def leaked(secrets: set[str], texts: list[str]) -> list[str]:
    return [secret for secret in secrets if any(secret in text for text in texts)]


def record_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    # requests-mock's own DEBUG line prints the mocked URL; it does not exist outside tests.
    records = [record for record in caplog.records if not record.name.startswith("requests_mock")]
    return [FORMATTER.format(record) + repr(record.__dict__) for record in records]


def test_representative_calls_leak_no_secret(
    requests_mock: Any,
    gateway: SandboxGateway,
    clock: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def connection_dropped(request: Any, context: Any) -> Any:
        raise requests.ConnectionError(f"Max retries exceeded with url: {request.path_url} (Caused by reset)")

    requests_mock.real_http = True  # everything but the dropped connection reaches the sandbox
    requests_mock.post(f"{gateway.server.url}/order/dropped", json=connection_dropped)
    caplog.set_level(logging.DEBUG)
    masked: list[str] = []
    store = InMemoryTokenStore()
    client = gateway.client(secret_masker=masked.append, token_store=store)
    failures: list[str] = []

    client.call(*PROBE)
    # The gateway expires the pair while the store believes it has a day left: 40003 -> refresh -> retry.
    store.save(replace(store.load(), access_expires_at=clock.now + 8 * 86400))
    clock.advance(7 * 86400 + 1)
    client.call("product.detail", {"product_id": str(gateway.server.truth("products")[0]["product_id"])})
    assert [method for method, _ in gateway.calls][-2:] == ["token.refresh", "product.detail"]
    client.tokens.refresh(force=True)
    with pytest.raises(DouyinError) as info:
        client.call("order.dropped")
    failures += [str(info.value), repr(info.value)]
    gateway.server.set_faults(http502_rate=1.0)  # nginx answers with an HTML page
    with pytest.raises(DouyinError) as info:
        client.call(*PROBE)
    failures += [str(info.value), repr(info.value)]
    gateway.server.set_faults(http502_rate=0.0)
    current = client.tokens.refresh()
    clock.advance(8 * 86400)
    # Another worker rotates after expiry and never saves: the stored refresh token is dead.
    client.call("token.refresh", {"grant_type": "refresh_token", "refresh_token": current.refresh_token})
    code_mode = gateway.client(auth_mode="code", token_store=InMemoryTokenStore(current))
    with pytest.raises(DouyinError) as info:
        code_mode.call(*PROBE)
    failures += [str(info.value), repr(info.value)]

    secrets = {APP_SECRET, *gateway.issued}
    assert len(secrets) >= 5
    texts = record_texts(caplog) + failures + [repr(client), repr(code_mode), str(code_mode.tokens.refresh)]
    assert any(PROBE[0] in text for text in texts)  # the scan does see the logs
    assert leaked(secrets, texts) == []
    assert secrets <= set(masked)  # ...and every secret went to the masker


class _Gateway(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _Gateway.seen.append(self.path)
        body = json.dumps(envelope(data={"ok": True})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_urllib3_debug_records_do_not_carry_the_token_in_the_url(
    local_gateway: str, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pair = stored_pair()
    caplog.set_level(logging.DEBUG)
    client = make_client(base_url=local_gateway, token_store=InMemoryTokenStore(pair))

    assert client.call("order.searchList", {"page": 0, "size": 1}) == {"ok": True}

    sent = dict(parse_qsl(urlsplit(_Gateway.seen[-1]).query))
    assert sent["access_token"] == pair.access_token  # the token really travelled in the query string
    urllib3 = [r.getMessage() for r in caplog.records if r.name == "urllib3.connectionpool"]
    assert any(re.search(r"POST /order/searchList\?<query redacted>", message) for message in urllib3)
    assert leaked({pair.access_token, pair.refresh_token, APP_SECRET}, record_texts(caplog)) == []
