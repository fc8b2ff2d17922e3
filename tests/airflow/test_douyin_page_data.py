"""What the Douyin page and its JSON make of the stored Variables and asset events (the browser test
covers the served page; these cover the cases a demo sync does not produce)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from airflow_provider_douyin.client.open_tokens import ClientToken, UserTokenChain
from airflow_provider_douyin.client.tokens import TokenPair
from airflow_provider_douyin.plugins.douyin_ui import render_page
from airflow_provider_douyin.plugins.status import connection_section, push_section, stream_section
from airflow_provider_douyin.streams.windows import WatermarkState, Window
from airflow_provider_douyin.transfers.reconciliation import reconciliation_key
from airflow_provider_douyin.transfers.watermarks import dump_state, watermark_key

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=timezone.utc)
T = NOW.timestamp()
DAY = 86400
SECRETS = ("act." + "a" * 40, "rft." + "b" * 40, "clt." + "c" * 40)


def variables() -> dict[str, str]:
    shop = TokenPair(SECRETS[0], SECRETS[1], T + 3 * DAY, T + 10 * DAY, T - 4 * DAY, "1000001")
    user = UserTokenChain(SECRETS[0], SECRETS[1], T + DAY, T + 2 * DAY, T - DAY, T - 28 * DAY, renewals=4)
    return {
        "douyin_token__douyin_shop_default": shop.to_json(),
        "douyin_token__douyin_open_default": user.to_json(),
        "douyin_client_token__aw7app": ClientToken(SECRETS[2], T + 7200, T).to_json(),
        "douyin_token__broken": '{"access_token": "act.zzzzzzzzzzzz"}',
        "douyin_auth_status__douyin_shop_default": json.dumps(
            {
                "checked_at": NOW.isoformat(),
                "ok": False,
                "last_error": "DouyinAuthError: <b>refused</b>",
                "last_error_at": NOW.isoformat(),
            }
        ),
        "douyin_auth_status__douyin_open_other": json.dumps({"checked_at": NOW.isoformat(), "ok": True}),
        watermark_key("douyin_shop_default", "orders", "wh.douyin_"): dump_state(
            WatermarkState(int(T - 5 * DAY), (Window(int(T - 5 * DAY), int(T - 7200)),))
        ),
        watermark_key("douyin_shop_default", "after_sales", "wh.douyin_"): dump_state(
            WatermarkState(int(T - DAY))
        ),
    }


def test_connections_show_expiries_chain_left_and_the_last_error_never_a_token():
    rows = {r["name"]: r for r in connection_section(variables(), T)}

    shop = rows["douyin_shop_default"]
    assert shop["access_expires_at"] == "2026-12-06T12:00:00+00:00"
    assert shop["chain_days_left"] == 10.0 and shop["last_refresh_at"] == "2026-11-29T12:00:00+00:00"
    assert shop["last_error"] == "DouyinAuthError: <b>refused</b>"
    # 2 days on the refresh token, plus 1 renewal left of a 30-day refresh lifetime
    assert rows["douyin_open_default"]["chain_days_left"] == 32.0
    assert rows["app aw7app (client token)"]["kind"] == "client"
    assert (
        rows["broken"]["error"]
        == "stored token pair lacks refresh_token, access_expires_at, refresh_expires_at"
    )
    assert rows["douyin_open_other"]["kind"] is None and rows["douyin_open_other"]["last_check_at"]
    assert not any(secret in json.dumps(list(rows.values())) for secret in SECRETS)


def reconciliation(ok: bool, counts: dict[str, int], missing: list[str], stale: list[str]) -> str:
    """A stored result, as the reconciliation writes it (keys and all)."""
    return json.dumps(
        {"ok": ok, "counts": counts, "missing": missing, "extra": [], "stale": stale, "moved": 0,
         "api_count": 500, "target_count": 498, "window_start": (NOW - timedelta(days=1)).isoformat(),
         "window_end": NOW.isoformat(), "checked_at": NOW.isoformat()}
    )  # fmt: skip


def test_streams_take_the_latest_run_per_target_and_the_watermark():
    checks = {
        reconciliation_key("douyin_shop_default", "after_sales", "wh.douyin_"): reconciliation(
            True, {"missing": 0, "extra": 0, "stale": 0}, [], []
        ),
        reconciliation_key("douyin_shop_default", "orders", "wh.douyin_"): reconciliation(
            False, {"missing": 2, "extra": 0, "stale": 1}, ["6920000000000000004", "6920000000000000008"],
            ["6920000000000000012"],
        ),
    }  # fmt: skip
    events = [  # newest first, as stream_events reads them
        (
            "orders",
            NOW - timedelta(hours=1),
            {
                "conn_id": "douyin_shop_default",
                "target": "wh.douyin_",
                "rows": {"orders": 7, "order_items": 9},
            },
        ),
        (
            "orders",
            NOW - timedelta(hours=2),
            {"conn_id": "douyin_shop_default", "target": "wh.douyin_", "rows": {"orders": 500}},
        ),
        ("orders", NOW - timedelta(hours=3), {"rows": {"orders": 1}}),  # no connection: not a transfer's
    ]
    rows = stream_section({**variables(), **checks}, events, T)

    assert [(r["stream"], r["target"], r["rows"]) for r in rows] == [
        ("after_sales", "wh.douyin_", {}),
        ("orders", "wh.douyin_", {"orders": 7, "order_items": 9}),
    ]
    assert rows[0]["reconciliation"]["ok"] and not rows[1]["reconciliation"]["ok"]
    assert "missing" not in rows[1]["reconciliation"], "the page shows counts, never the keys"
    orders = rows[1]
    assert orders["watermark"] == "2026-12-03T10:00:00+00:00" and orders["freshness_seconds"] == 7200
    assert orders["last_run_at"] == "2026-12-03T11:00:00+00:00" and orders["rows_total"] == 16

    html = render_page(
        {
            "generated_at": NOW.isoformat(),
            "connections": connection_section(variables(), T),
            "streams": rows,
            "push": push_section(),
        }
    )
    assert '<td class="error">mismatch (missing 2, stale 1) at 2026-12-03 12:00:00 UTC</td>' in html
    assert "<td>orders 7, order_items 9</td>" in html and "<td>2h 00m</td>" in html
    assert "&lt;b&gt;refused&lt;/b&gt;" in html and "<b>refused" not in html
    assert "receiver not configured" in html
    assert not any(secret in html for secret in SECRETS)
