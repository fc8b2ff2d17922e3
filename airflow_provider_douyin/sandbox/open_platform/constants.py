"""Fixed facts of the emulated Douyin Open Platform: credentials, merchant ids, id bases, paths.

Ids that Douyin documents as int64 above 2^53 (``account_id``, ``poi_id``) are generated in
that range, so a client that parses them through doubles fails here as it would in
production.
"""

from __future__ import annotations

SANDBOX_CLIENT_KEY = "aw7sandbox0000a1"
"""The sandbox app's client_key (Douyin Open Platform web apps start with ``aw``)."""
SANDBOX_CLIENT_SECRET = "5e2b7c0d9a8f4e6b1c3d5f7a9b0c2e4d"
"""The sandbox app's client_secret."""

ROOT_ACCOUNT_ID = 7_136_500_000_000_000_000
"""The 来客 root account above every sandbox merchant (the ``Rpc-Transit-Life-Account`` value)."""
FIRST_ACCOUNT_ID = 7_136_518_000_000_000_001
"""Merchant ``k`` (1-based) of a server has account id ``FIRST_ACCOUNT_ID + k - 1``."""


def account_ids(count: int) -> list[int]:
    """Merchant account ids of a server configured with ``merchants=count``."""
    return [FIRST_ACCOUNT_ID + k for k in range(count)]


MERCHANT_SPAN = 10**15
"""Per-merchant id spaces: ``base + merchant_no * MERCHANT_SPAN + index``."""
ORDER_ID_BASE = 7_000_000_000_000_000_000
CERTIFICATE_ID_BASE = 8_000_000_000_000_000_000
VERIFY_ID_BASE = 7_200_000_000_000_000_000
AFTER_SALE_ID_BASE = 7_300_000_000_000_000_000
POI_ID_BASE = 6_601_000_000_000_000_000
PRODUCT_ID_BASE = 1_700_000_000_000_000
SKU_ID_BASE = 1_800_000_000_000_000
PRODUCT_SPAN = 10**9

OPEN_PATH_PREFIXES = ("/oauth/", "/goodlife/", "/room/data/", "/data/external/", "/api/douyin/")


def is_open_path(path: str) -> bool:
    """Whether a request path belongs to the Open Platform rather than the Doudian gateway."""
    return path.startswith(OPEN_PATH_PREFIXES)
