"""A minimal caller of the sandbox's Douyin Open Platform side, written from the protocol
facts alone (no provider client code), so the sandbox's behaviour is checked independently.
"""

from __future__ import annotations

from typing import Any

import requests

from airflow_provider_douyin.sandbox import SandboxServer

ORDERS = "/goodlife/v1/trade/order/query/"
PRODUCTS = "/goodlife/v1/goods/product/online/query/"
PRODUCTS_GET = "/goodlife/v1/goods/product/online/get/"
VERIFY_RECORDS = "/goodlife/v1/fulfilment/certificate/verify_record/query/"
REFUNDS = "/goodlife/v1/akte/after_sale/order/query/"


class OpenCaller:
    """Fetches a client token and sends goodlife GETs with the ``access-token`` header."""

    def __init__(self, server: SandboxServer) -> None:
        self.server = server
        self.session = requests.Session()
        self.token = ""

    def post(self, path: str, params: dict[str, Any], form: bool = False) -> dict[str, Any]:
        """An OAuth call: JSON body, or a form body as the docs show for most of them."""
        sent = {"data": params} if form else {"json": params}
        response = self.session.post(self.server.url + path, timeout=10, **sent)
        assert response.status_code == 200, response.text
        return response.json()

    def fetch_client_token(self, secret: str | None = None) -> dict[str, Any]:
        return self.post("/oauth/client_token/", {
            "client_key": self.server.client_key,
            "client_secret": self.server.client_secret if secret is None else secret,
            "grant_type": "client_credential",
        })  # fmt: skip

    def login(self) -> str:
        reply = self.fetch_client_token()
        assert reply["data"]["error_code"] == 0, reply
        self.token = reply["data"]["access_token"]
        return self.token

    def get(self, path: str, params: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
        response = self.get_raw(path, params, headers)
        assert response.status_code == 200, response.text
        return response.json()

    def get_raw(self, path: str, params: dict[str, Any], headers: dict[str, str] | None = None,
                timeout: float = 10) -> requests.Response:  # fmt: skip
        sent = {"access-token": self.token, "Content-Type": "application/json", **(headers or {})}
        return self.session.get(self.server.url + path, params=params, headers=sent, timeout=timeout)

    def data(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        """The ``data`` of a reply that passes every success rule."""
        envelope = self.get(path, params)
        assert envelope["extra"]["error_code"] == 0, envelope
        assert envelope["extra"]["sub_error_code"] == 0, envelope
        assert envelope["data"]["error_code"] == 0, envelope
        return envelope["data"]


def codes(envelope: dict[str, Any]) -> tuple[int, int]:
    """(data.error_code, extra.error_code) of a goodlife reply."""
    return envelope["data"]["error_code"], envelope["extra"]["error_code"]


def all_orders_by_cursor(caller: OpenCaller, account_id: str, size: int = 50, **filters: Any) -> list[dict]:
    rows: list[dict] = []
    cursor = ""
    for _ in range(10_000):
        data = caller.data(ORDERS, {"account_id": account_id, "page_size": size, "cursor": cursor, **filters})
        rows += data["orders"]
        if not data["has_more"]:
            return rows
        cursor = data["search_after"]["CursorValue"]
    raise AssertionError("cursor paging did not finish")


def all_orders_by_page(caller: OpenCaller, account_id: str, size: int = 50, **filters: Any) -> list[dict]:
    rows: list[dict] = []
    for page in range(1, 10_000):
        data = caller.data(ORDERS, {"account_id": account_id, "page_num": page, "page_size": size, **filters})
        rows += data["orders"]
        if page * size >= data["page"]["total"]:
            return rows
    raise AssertionError("page paging did not finish")


def all_by_cursor(caller: OpenCaller, path: str, key: str, params: dict[str, Any]) -> list[dict]:
    """Every row of a cursor + has_more query (products, verify records, refunds)."""
    rows: list[dict] = []
    cursor = ""
    for _ in range(10_000):
        data = caller.data(path, {**params, "cursor": cursor})
        rows += data[key]
        if not data["has_more"]:
            return rows
        cursor = data["next_cursor"] if "next_cursor" in data else data["cursor"]
    raise AssertionError("cursor paging did not finish")
