"""The Douyin Open Platform (open.douyin.com) side of the sandbox: OAuth 2.0 tokens and the
抖音来客 (goodlife) life-service queries, served by the same ``douyin-sandbox`` server under
``/oauth/…`` and ``/goodlife/…``, with its control API under ``/sandbox/open/…``.

Like the Doudian side it shares no code with the provider's client. Modules, by concern:
``oauth`` (token rules), ``merchant`` (generated state and mutations), ``records`` (API
shapes and ground truth), ``queries`` (paging, cursors, filters), ``envelope`` (reply
shapes and codes) and ``platform`` (dispatch, faults, statistics, control API).
"""

from __future__ import annotations

from .constants import (
    FIRST_ACCOUNT_ID,
    ROOT_ACCOUNT_ID,
    SANDBOX_CLIENT_KEY,
    SANDBOX_CLIENT_SECRET,
    account_ids,
    is_open_path,
)

__all__ = [
    "FIRST_ACCOUNT_ID",
    "ROOT_ACCOUNT_ID",
    "SANDBOX_CLIENT_KEY",
    "SANDBOX_CLIENT_SECRET",
    "account_ids",
    "is_open_path",
]
