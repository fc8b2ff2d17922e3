"""The live sessions (直播场次) of a sandbox shop: one deterministic schedule both platforms share.

The shop gateway attributes sku orders to these rooms (``room_id``, ``author_id``), and the
Open Platform's ``/room/data/*`` serves viewer figures for the same room ids, so a report can
join sales to viewers the way a real merchant's would. Everything is derived from
``mix(seed, shop_no, day)``: nothing is stored and any day can be asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .constants import DAY, day_start
from .hashing import mix

ROOM_ID_BASE = 7_400_000_000_000_000_000
"""19-digit room ids, like the real ones: above 2**53, so only ``room_id_str`` is exact in JSON."""
SELF_AUTHOR_BASE = 60_000_000_000
ALLIANCE_AUTHOR_BASE = 90_000_000_000
ALLIANCE_AUTHORS = ("小鹿带货", "阿杰好物", "美妆姐姐Lily", "老王厨房", "橙子穿搭")

C_BIZ_ALLIANCE = 2
"""精选联盟: a 达人's room, the shop pays commission."""
C_BIZ_SELF = 8
"""小店自卖: the shop's own account broadcasts, no commission."""


@dataclass(frozen=True)
class LiveSession:
    room_id: int
    shop_no: int
    author_id: int
    author_name: str
    c_biz: int
    start: int
    end: int

    @property
    def is_alliance(self) -> bool:
        return self.c_biz == C_BIZ_ALLIANCE

    def covers(self, when: int) -> bool:
        return self.start <= when < self.end


def self_author(shop_no: int) -> tuple[int, str]:
    """The shop's own broadcasting account (the one that authorises the Open Platform app)."""
    return SELF_AUTHOR_BASE + shop_no, f"抖店沙盒旗舰店{shop_no}号官方直播间"


def sessions_on_day(seed: int, shop_no: int, when: int) -> list[LiveSession]:
    """The sessions starting on the Shanghai day that contains ``when``, ordered by start.

    Every day has the shop's own evening session (19:00-23:00); about half the days add a
    达人 session in the afternoon, and some days a second one after the evening session.
    The plan is weekly, like a shop's live calendar: the same weekday has the same sessions
    (times, authors), only the room ids are new every day. So which orders are 精选联盟 sales,
    and what they settle for, is the same for a shop generated whole weeks later.
    """
    return list(_sessions_of_day(seed, shop_no, day_start(when)))


@lru_cache(maxsize=4096)
def _sessions_of_day(seed: int, shop_no: int, day: int) -> tuple[LiveSession, ...]:
    """Cached: the shop gateway asks for the session of every order it shows."""
    day_no = day // DAY
    h = mix(seed, shop_no, day_no % 7, 0x11FE)
    rooms = mix(seed, shop_no, day_no, 0x11FE)
    author_id, author_name = self_author(shop_no)
    sessions = [
        LiveSession(
            room_id=ROOM_ID_BASE + mix(rooms, 0) % 10**17,
            shop_no=shop_no,
            author_id=author_id,
            author_name=author_name,
            c_biz=C_BIZ_SELF,
            start=day + 19 * 3600 + (h >> 8) % 1800,
            end=day + 23 * 3600 + (h >> 16) % 1800,
        )
    ]
    # (start offset, duration, 1-in-N odds): 14:00-14:30 for 3 h, 23:30-24:00 for 2 h.
    for slot, (offset, hours, odds) in enumerate(((14 * 3600, 3, 2), (23 * 3600 + 1800, 2, 5))):
        hs = mix(h, slot + 1)
        if hs % odds:
            continue
        pick = (hs >> 8) % len(ALLIANCE_AUTHORS)
        start = day + offset + (hs >> 16) % 1800
        sessions.append(
            LiveSession(
                room_id=ROOM_ID_BASE + mix(rooms, slot + 1) % 10**17,
                shop_no=shop_no,
                author_id=ALLIANCE_AUTHOR_BASE + pick,
                author_name=ALLIANCE_AUTHORS[pick],
                c_biz=C_BIZ_ALLIANCE,
                start=start,
                end=start + hours * 3600,
            )
        )
    return tuple(sorted(sessions, key=lambda s: s.start))


def session_at(seed: int, shop_no: int, when: int) -> LiveSession | None:
    """The session on air at ``when``, if any (sessions may run past midnight)."""
    for day in (when - DAY, when):
        for session in sessions_on_day(seed, shop_no, day):
            if session.covers(when):
                return session
    return None


def sessions_between(seed: int, shop_no: int, start: int, end: int) -> list[LiveSession]:
    """Sessions that start in ``[start, end)``."""
    found: list[LiveSession] = []
    day = day_start(start)
    while day < end:
        found += [s for s in sessions_on_day(seed, shop_no, day) if start <= s.start < end]
        day += DAY
    return found
