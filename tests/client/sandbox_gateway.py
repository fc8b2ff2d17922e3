"""The sandbox gateway on a test's clock: Doudian's token rules as the sandbox implements them.

The client and the sandbox read one controllable clock (the client signs with it, the sandbox
checks timestamps and token lifetimes with it), so a test lives through days of token life in
no time. Every request that a client built here sent and got an answer to is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from airflow_provider_douyin.client import (
    DoudianShopClient,
    DouyinAuthError,
    InMemoryTokenStore,
    RetryPolicy,
    TokenPair,
)
from airflow_provider_douyin.sandbox import SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SandboxServer
from airflow_provider_douyin.sandbox.constants import FIRST_SHOP_ID

from .fakes import DAY, FakeClock

SHOP_ID = str(FIRST_SHOP_ID)
PROBE = ("product.listV2", {"page": 1, "size": 1})
NO_WAIT = RetryPolicy(max_attempts=3, initial=0.0, maximum=0.0)


class SandboxGateway:
    """A started sandbox sharing ``clock`` with the clients that :meth:`client` builds.

    ``calls`` holds ``(method, params)`` of every answered request of those clients, in order;
    ``issued`` every token value their answers carried.
    """

    def __init__(self, server: SandboxServer, clock: FakeClock) -> None:
        self.server = server
        self.clock = clock
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.issued: list[str] = []
        self._clients: list[tuple[DoudianShopClient, requests.Session]] = []
        self._quiet = self._build(recorded=False)

    def client(self, **overrides: Any) -> DoudianShopClient:
        """A client of the sandbox shop on the shared clock, fast retries, no noticeable rate limit."""
        return self._build(recorded=True, **overrides)

    def token_call(self) -> Callable[[str, Any], Any]:
        """A recorded ``token_call`` for a ``TokenManager``, on its own connection."""
        return self.client().call

    def grant(self, age: float = 0.0) -> TokenPair:
        """A pair the sandbox issued ``age`` seconds ago (unrecorded), as a token store would hold it."""
        self.clock.now -= age
        try:
            data = self._quiet.call(
                "token.create", {"code": "", "grant_type": "authorization_self", "shop_id": SHOP_ID}
            )
            issued_at = self.clock.now
        finally:
            self.clock.now += age
        self.issued += [data["access_token"], data["refresh_token"]]
        return TokenPair(
            access_token=data["access_token"],
            refresh_token=data["refresh_token"],
            access_expires_at=issued_at + data["expires_in"],
            refresh_expires_at=issued_at + self.server.info()["faults"]["refresh_ttl"],
            obtained_at=issued_at,
            shop_id=SHOP_ID,
        )

    def accepts(self, access_token: str) -> bool:
        """Whether the sandbox answers a data call made with ``access_token`` now (unrecorded)."""
        now = self.clock.now
        held = TokenPair(access_token, "rft.never-sent", now + DAY, now + DAY, now, SHOP_ID)
        probe = self._build(recorded=False, token_store=InMemoryTokenStore(held), token_refresh=False)
        try:
            probe.call(*PROBE)
        except DouyinAuthError:
            return False
        return True

    def refreshes(self) -> dict[str, int]:
        """How the sandbox answered token.refresh: case1/2/3, concurrent (31012), grace_replay."""
        return self.server.stats()["refreshes"]

    def close(self) -> None:
        for client, session in self._clients:
            client.close()
            session.close()

    def _build(self, *, recorded: bool, **overrides: Any) -> DoudianShopClient:
        session = requests.Session()
        if recorded:
            session.hooks["response"].append(self._record)
        kwargs: dict[str, Any] = {
            "app_key": SANDBOX_APP_KEY,
            "app_secret": SANDBOX_APP_SECRET,
            "shop_id": SHOP_ID,
            "base_url": self.server.url,
            "clock": self.clock,
            "qps": 1000.0,
            "retry": NO_WAIT,
            "session": session,
            **overrides,
        }
        client = DoudianShopClient(**kwargs)
        self._clients.append((client, session))
        return client

    def _record(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        request = response.request
        method = dict(parse_qsl(urlsplit(request.url).query)).get("method", "")
        body = request.body.decode() if isinstance(request.body, bytes) else request.body
        self.calls.append((method, json.loads(body or "{}")))
        try:
            data = response.json().get("data")
        except ValueError:
            return
        if isinstance(data, dict):
            self.issued += [str(data[key]) for key in ("access_token", "refresh_token") if data.get(key)]
