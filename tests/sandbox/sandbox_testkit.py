"""Test helpers for the sandbox: a tiny independent signer and gateway caller.

The signer is written here from Doudian's published sign formula rather than imported, so a
bug in the sandbox's own verifier cannot cancel out.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests

from airflow_provider_douyin.sandbox import (
    SANDBOX_APP_KEY,
    SANDBOX_APP_SECRET,
    SANDBOX_SHOP_IDS,
    SandboxServer,
)

SHOP_ID = SANDBOX_SHOP_IDS[0]


def make_sign(
    secret: str, app_key: str, method: str, param_json: str, timestamp: str, how: str = "md5"
) -> str:
    text = f"{secret}app_key{app_key}method{method}param_json{param_json}timestamp{timestamp}v2{secret}"
    if how == "hmac-sha256":
        return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()
    return hashlib.md5(text.encode()).hexdigest()


def canonical(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Gateway:
    """Signs and sends gateway calls to one sandbox server."""

    def __init__(
        self, server: SandboxServer, app_key: str = SANDBOX_APP_KEY, secret: str = SANDBOX_APP_SECRET
    ):
        self.server = server
        self.app_key = app_key
        self.secret = secret
        self.session = requests.Session()
        self.token = ""

    def send(
        self,
        method: str,
        body: str,
        *,
        query: dict[str, str] | None = None,
        sign_over: str | None = None,
        timestamp: str | None = None,
        sign_method: str | None = "hmac-sha256",
        headers: dict[str, str] | None = None,
        path: str | None = None,
        timeout: float = 10,
    ) -> requests.Response:
        """POST ``body`` as the raw param_json, signed over ``sign_over`` (default: body)."""
        ts = timestamp or str(int(time.time()))
        q = {"app_key": self.app_key, "method": method, "timestamp": ts, "v": "2"}
        if self.token:
            q["access_token"] = self.token
        if sign_method:
            q["sign_method"] = sign_method
        q["sign"] = make_sign(
            self.secret,
            self.app_key,
            method,
            body if sign_over is None else sign_over,
            ts,
            sign_method or "md5",
        )
        q.update(query or {})
        q = {k: v for k, v in q.items() if v is not None}
        url = self.server.url + (path or "/" + method.replace(".", "/"))
        return self.session.post(
            url,
            params=q,
            data=body.encode(),
            headers={"Content-Type": "application/json", **(headers or {})},
            timeout=timeout,
        )

    def call(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        response = self.send(method, canonical(params or {}), **kw)
        assert response.status_code == 200, response.text
        return response.json()

    def data(self, method: str, params: dict[str, Any] | None = None) -> Any:
        envelope = self.call(method, params)
        assert envelope["code"] == 10000, envelope
        return envelope["data"]

    def login(self, shop_id: int = SHOP_ID) -> dict[str, Any]:
        saved, self.token = self.token, ""
        try:
            data = self.data(
                "token.create", {"code": "", "grant_type": "authorization_self", "shop_id": str(shop_id)}
            )
        finally:
            self.token = saved
        self.token = data["access_token"]
        return data


def error_of(envelope: dict[str, Any]) -> tuple[int, str]:
    return envelope["code"], envelope["sub_code"]


@contextmanager
def cli_serve(*args: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Run ``douyin-sandbox serve --port 0 *args`` and yield its printed URL and the process. On
    leaving, SIGTERM must stop it with exit code 0; it is killed if anything failed before."""
    command = [sys.executable, "-m", "airflow_provider_douyin.sandbox", "serve", "--port", "0", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("douyin-sandbox listening on http://127.0.0.1:")
        yield first.rsplit(" ", 1)[1], proc
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
