"""Offline emulator of the Doudian (抖店) gateway and the Douyin Open Platform (open.douyin.com)
for tests, demos and benchmarks; the Open Platform side lives in ``open_platform``.

It shares no code with the provider's client: signing, canonical JSON, token rules and
error codes are re-implemented from the protocol reference, so the two can check each
other. Only loopback networking is used.

Modules of the Doudian side, by concern: ``shop_data`` (a shop's generated state, ids and
mutations), ``shop_records`` (the API shapes of a record version, and the ground truth),
``product_catalog`` (products, SKUs and fixed vocabularies), ``endpoints`` (method handlers,
each given a narrow ``ShopRequest`` or ``TokenRequest``), ``tokens``, ``signing`` and
``engine`` (protocol checks, dispatch, statistics, control API). Shared by both platforms:
``store`` (columnar tables with version history), ``hashing`` (the derivation hash),
``fault_injection`` and ``drift`` (seeded faults), ``reply`` (what the HTTP layer performs,
control-API helpers), ``clock``, ``server`` (HTTP) and ``push_delivery`` (the push messages and
webhooks sent to a receiver; ``push_messages`` and ``open_platform.webhooks`` say what each
change sends).

The server classes are imported lazily so that loading the pytest plugin (which pytest
does on every run) costs next to nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .constants import FIRST_SHOP_ID, SANDBOX_APP_KEY, SANDBOX_APP_SECRET, SANDBOX_SHOP_IDS, shop_ids
from .open_platform import SANDBOX_CLIENT_KEY, SANDBOX_CLIENT_SECRET, account_ids

if TYPE_CHECKING:
    from .config import FaultConfig, SandboxConfig
    from .server import SandboxServer

_LAZY = {"FaultConfig": "config", "SandboxConfig": "config", "SandboxServer": "server"}

__all__ = [
    "FIRST_SHOP_ID",
    "SANDBOX_APP_KEY",
    "SANDBOX_APP_SECRET",
    "SANDBOX_CLIENT_KEY",
    "SANDBOX_CLIENT_SECRET",
    "SANDBOX_SHOP_IDS",
    "FaultConfig",
    "SandboxConfig",
    "SandboxServer",
    "account_ids",
    "shop_ids",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
