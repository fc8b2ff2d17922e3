"""Fixed facts of the emulated gateway: credentials, shop ids, id bases and time helpers.

Kept in one place so the server, the data generator and the tests agree on them without
sharing any code with the real client.
"""

from __future__ import annotations

import datetime as _dt

SANDBOX_APP_KEY = "3409409348479354011"
"""Doudian's documented example app_key, so the published sign vectors verify."""
SANDBOX_APP_SECRET = "2ad2355c-01d0-11f8-91dc-05a8cd1054b1"
"""Doudian's documented example app_secret."""

FIRST_SHOP_ID = 1000001
"""Shop ``k`` (1-based) of a server has id ``FIRST_SHOP_ID + k - 1``: 1000001, 1000002, ..."""
SANDBOX_SHOP_IDS = tuple(FIRST_SHOP_ID + k for k in range(8))
"""The first eight shop ids; a server with ``shops=K`` uses the first K of this sequence."""


def shop_ids(count: int) -> list[int]:
    """Shop ids of a server configured with ``shops=count``."""
    return [FIRST_SHOP_ID + k for k in range(count)]


SHANGHAI = _dt.timezone(_dt.timedelta(hours=8), "Asia/Shanghai")
"""China has had no DST since 1991, so a fixed +08:00 offset is Asia/Shanghai."""
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DAY = 86400

ORDER_ID_BASE = 6_920_000_000_000_000_000
"""Shop order id = base + shop_no * ORDER_SHOP_SPAN + idx * 4; sku-order ids add 1..3."""
ORDER_SHOP_SPAN = 10**15
AFTERSALE_ID_BASE = 7_310_000_000_000_000_000
PRODUCT_ID_BASE = 3_650_000_000_000_000_000
SKU_ID_BASE = 1_760_000_000_000_000_000


def fmt_time(epoch: float) -> str:
    """Epoch seconds -> ``yyyy-MM-dd HH:mm:ss`` in Asia/Shanghai (the string times the finance APIs use)."""
    return _dt.datetime.fromtimestamp(int(epoch), SHANGHAI).strftime(TIME_FORMAT)


def parse_time(text: str) -> int:
    """``yyyy-MM-dd HH:mm:ss`` in Asia/Shanghai -> epoch seconds; ``ValueError`` if malformed."""
    return int(_dt.datetime.strptime(text, TIME_FORMAT).replace(tzinfo=SHANGHAI).timestamp())


def day_start(epoch: float) -> int:
    """Epoch of 00:00 Asia/Shanghai of the day containing ``epoch``."""
    return int((int(epoch) + 8 * 3600) // DAY * DAY - 8 * 3600)
