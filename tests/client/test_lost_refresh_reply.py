"""A refresh whose reply is lost on the way back: the gateway rotated, the client never heard.

Doudian rotates both tokens when a refresh comes in the last hour before access expiry and
keeps the old pair valid for one more hour. Asked again with the old refresh token inside that
grace, it answers with the current pair, so a client that retries the refresh recovers the pair
it lost instead of needing the shop to authorise the app again.
"""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_douyin.client import DoudianShopClient, InMemoryTokenStore, RetryPolicy
from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET

SHOP_ID = 1000001


class ReplyDroppingProxy:
    """Forwards every request to the gateway; drops the reply of the first ``token.refresh``."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.dropped = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                upstream_conn = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream_conn.request("POST", self.path, body=body, headers=headers)
                reply = upstream_conn.getresponse()
                payload = reply.read()
                upstream_conn.close()
                if self.path.startswith("/token/refresh") and proxy.dropped == 0:
                    proxy.dropped += 1  # the gateway has rotated; the client gets nothing back
                    self.close_connection = True
                    self.connection.close()
                    return
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.getheader("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ReplyDroppingProxy:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def proxy(douyin_sandbox_factory: Any) -> Iterator[tuple[Any, ReplyDroppingProxy]]:
    # Every refresh lands in the rotation window (case 2), with a grace that outlives the test.
    server = douyin_sandbox_factory(orders=20, access_ttl=1800, rotation_window=3600, grace=600)
    with ReplyDroppingProxy(server.url) as dropping:
        yield server, dropping


def tool_app_refresh_token(server: Any) -> str:
    with DoudianShopClient(
        app_key=SANDBOX_APP_KEY, app_secret=SANDBOX_APP_SECRET, base_url=server.url, shop_id=str(SHOP_ID)
    ) as bootstrap:
        code = server.issue_auth_code(SHOP_ID)
        data = bootstrap.call("token.create", {"code": code, "grant_type": "authorization_code"})
        return data["refresh_token"]


def test_a_tool_app_recovers_the_pair_whose_refresh_reply_was_lost(proxy):
    server, dropping = proxy
    store = InMemoryTokenStore()
    client = DoudianShopClient(
        app_key=SANDBOX_APP_KEY,
        app_secret=SANDBOX_APP_SECRET,
        base_url=dropping.url,
        auth_mode="code",
        refresh_token=tool_app_refresh_token(server),
        token_store=store,
        retry=RetryPolicy(max_attempts=3, initial=0.0, maximum=0.0),
    )
    with client:
        assert client.call("product.listV2", {"page": 1, "size": 1})["total"] > 0
        first_pair = store.load()
        # A second rotation works from the recovered pair: nothing was left half-known.
        refreshed = client.tokens.refresh(force=True)
        assert client.call("product.listV2", {"page": 1, "size": 1})["total"] > 0

    assert dropping.dropped == 1
    cases = server.stats()["refreshes"]
    assert cases["case2"] >= 1 and cases["grace_replay"] == 1, cases
    assert refreshed.refresh_token != first_pair.refresh_token
    assert store.load() == refreshed
