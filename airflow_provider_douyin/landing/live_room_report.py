"""The live-room report: each room's sales beside its viewers, as portable SQL.

Sales per room come from ``<prefix>live_rooms`` (built from the shop's sku orders: GMV and buyers
per ``room_id``), viewers from ``<prefix>live_room_stats`` (the broadcasting account's Open Platform
figures). The report is rebuilt whole in one transaction (delete, then insert), so a rerun or an
overlapping run leaves the same rows, and it runs unchanged on SQLite, PostgreSQL and MySQL.

* ``buyer_conversion`` = buyers / ``live_watch_ucnt_td`` (distinct watching users);
* ``gmv_per_watch_user`` = GMV (fen) / ``live_watch_ucnt_td``;
* both are NULL for a room without viewer figures (or with none watching), and ``viewers_final``
  is 0 while the platform still marks the room's figures not ready, NULL when there are none.
  Rooms the account broadcast without selling anything appear with zero sales.
"""

from __future__ import annotations

REPORT_TABLE = "live_room_report"

_COLUMNS = (
    ("shop_id", "BIGINT"),
    ("room_id", "BIGINT NOT NULL"),
    ("author_id", "BIGINT"),
    ("author_name", "VARCHAR(255)"),
    ("live_start_ts", "BIGINT"),
    ("live_end_ts", "BIGINT"),
    ("first_pay_time", "BIGINT"),
    ("last_pay_time", "BIGINT"),
    ("gmv", "BIGINT"),
    ("orders", "BIGINT"),
    ("sku_orders", "BIGINT"),
    ("items", "BIGINT"),
    ("buyers", "BIGINT"),
    ("refund_amount", "BIGINT"),
    ("alliance_gmv", "BIGINT"),
    ("watch_users", "BIGINT"),
    ("watch_count", "BIGINT"),
    ("peak_online_users", "BIGINT"),
    ("new_followers", "BIGINT"),
    ("comments", "BIGINT"),
    ("likes", "BIGINT"),
    ("viewers_final", "SMALLINT"),
    ("buyer_conversion", "DOUBLE PRECISION"),
    ("gmv_per_watch_user", "DOUBLE PRECISION"),
)
REPORT_COLUMNS = tuple(name for name, _ in _COLUMNS)

_FIGURES = (
    "s.live_watch_ucnt_td, s.live_watch_cnt_td, s.per_minute_watch_ucnt_td_max, s.live_follow_ucnt_td, "
    "s.live_comment_cnt_td, s.live_like_cnt_td, s.is_final"
)
"""The viewer columns of ``live_room_stats``, in report order from ``watch_users`` to ``viewers_final``."""
_SALES = (
    "r.first_pay_time, r.last_pay_time, r.gmv, r.orders, r.sku_orders, r.items, r.buyers, r.refund_amount, "
    "r.alliance_gmv"
)
_NO_SALES = "NULL, NULL, 0, 0, 0, 0, 0, 0, 0"


def _per_viewer(amount: str) -> str:
    """``amount`` per watching user; ``1e0`` makes it floating point on MySQL too (``1.0`` would be a
    DECIMAL rounded to 4 places there)."""
    return f"CASE WHEN s.live_watch_ucnt_td > 0 THEN {amount} * 1e0 / s.live_watch_ucnt_td END"


def live_room_report_sql(prefix: str = "douyin_") -> list[str]:
    """The statements that (re)build ``<prefix>live_room_report``; run them in one transaction."""
    report, rooms, stats = f"{prefix}{REPORT_TABLE}", f"{prefix}live_rooms", f"{prefix}live_room_stats"
    return [
        f"CREATE TABLE IF NOT EXISTS {report} ({', '.join(f'{n} {t}' for n, t in _COLUMNS)})",
        f"DELETE FROM {report}",
        f"INSERT INTO {report} ({', '.join(REPORT_COLUMNS)}) "
        f"SELECT r.shop_id, r.room_id, r.author_id, r.author_name, s.live_start_ts, s.live_end_ts, {_SALES}, "
        f"{_FIGURES}, {_per_viewer('r.buyers')}, {_per_viewer('r.gmv')} "
        f"FROM {rooms} r LEFT JOIN {stats} s ON s.room_id = r.room_id "
        "UNION ALL "
        f"SELECT NULL, s.room_id, NULL, NULL, s.live_start_ts, s.live_end_ts, {_NO_SALES}, "
        f"{_FIGURES}, {_per_viewer('0')}, {_per_viewer('0')} "
        f"FROM {stats} s WHERE NOT EXISTS (SELECT 1 FROM {rooms} r WHERE r.room_id = s.room_id)",
    ]
