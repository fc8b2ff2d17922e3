"""Token lifecycle against the sandbox gateway's Doudian refresh rules: create, rotate, races, re-auth.

The sandbox and the token manager share one controllable clock, so days of token life pass at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import pytest

from airflow_provider_douyin.client import (
    DouyinReauthorizationRequired,
    DouyinRequestError,
    DouyinTokenRaceError,
    InMemoryTokenStore,
    TokenManager,
    TokenPair,
    error_for,
)
from airflow_provider_douyin.client.tokens import REFUSAL_BACKOFF

from .fakes import DAY, T0, FakeClock, envelope, stored_pair
from .sandbox_gateway import SHOP_ID, SandboxGateway

CREATE_PARAMS = {"code": "", "grant_type": "authorization_self", "shop_id": SHOP_ID}


class RecordingStore(InMemoryTokenStore):
    def __init__(self, pair: TokenPair | None = None) -> None:
        super().__init__(pair)
        self.saves: list[TokenPair] = []
        self.saved = threading.Event()

    def save(self, pair: TokenPair) -> None:
        super().save(pair)
        self.saves.append(pair)
        self.saved.set()


def manager(gateway: SandboxGateway, clock: FakeClock, store: Any = None, **overrides: Any) -> TokenManager:
    kwargs: dict[str, Any] = {
        "store": store if store is not None else InMemoryTokenStore(),
        "token_call": gateway.token_call(),
        "shop_id": SHOP_ID,
        "clock": clock,
        "sleep": clock.sleep,
        **overrides,
    }
    return TokenManager(**kwargs)


def methods(gateway: SandboxGateway) -> list[str]:
    return [method for method, _ in gateway.calls]


def test_self_grant_creates_and_stores_a_pair(gateway: SandboxGateway, clock: FakeClock) -> None:
    store = RecordingStore()
    tokens = manager(gateway, clock, store)

    token = tokens.access_token()

    assert gateway.calls == [("token.create", CREATE_PARAMS)]
    pair = store.load()
    assert pair is not None and token == pair.access_token
    assert pair.refresh_token.startswith("rft.")
    assert (pair.access_expires_at, pair.refresh_expires_at, pair.obtained_at) == (
        T0 + 7 * DAY,
        T0 + 14 * DAY,
        T0,
    )
    assert pair.shop_id == SHOP_ID
    assert tokens.access_token() == token
    assert len(gateway.calls) == 1 and len(store.saves) == 1


def test_stored_pair_is_used_without_calling_the_api(gateway: SandboxGateway, clock: FakeClock) -> None:
    pair = stored_pair()
    assert manager(gateway, clock, InMemoryTokenStore(pair)).access_token() == pair.access_token
    assert gateway.calls == []


def test_data_path_refreshes_only_inside_the_expiry_margin(gateway: SandboxGateway, clock: FakeClock) -> None:
    tokens = manager(gateway, clock)
    first = tokens.access_token()
    clock.advance(7 * DAY - 301)
    assert tokens.access_token() == first
    assert methods(gateway) == ["token.create"]
    clock.advance(2)  # now 299 s before expiry
    second = tokens.access_token()
    assert second != first
    assert methods(gateway) == ["token.create", "token.refresh"]


def test_compressed_lifetimes_use_ten_percent_of_the_lifetime_as_margin(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    gateway.server.set_faults(access_ttl=60.0)
    tokens = manager(gateway, clock)
    first = tokens.access_token()
    for _ in range(5):  # 53 s into a 60 s lifetime: a 300 s margin would refresh on every call
        clock.advance(53 / 5)
        assert tokens.access_token() == first
    assert methods(gateway) == ["token.create"]
    clock.advance(1.5)
    assert tokens.access_token() != first
    assert methods(gateway) == ["token.create", "token.refresh"]


def test_refresh_outside_the_rotation_window_does_not_call_the_api(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    tokens = manager(gateway, clock)
    created = tokens.refresh()
    clock.advance(DAY)
    assert tokens.refresh() == created
    assert methods(gateway) == ["token.create"]


def test_early_forced_refresh_gets_the_same_pair_and_keeps_its_expiries(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    store = RecordingStore()
    tokens = manager(gateway, clock, store)
    created = tokens.refresh()
    clock.advance(DAY)

    again = tokens.refresh(force=True)

    assert methods(gateway) == ["token.create", "token.refresh"]
    assert (again.access_token, again.refresh_token) == (created.access_token, created.refresh_token)
    assert again.access_expires_at == pytest.approx(created.access_expires_at, abs=1)
    assert (again.refresh_expires_at, again.obtained_at) == (created.refresh_expires_at, created.obtained_at)
    assert store.load() == again
    assert tokens.access_token() == created.access_token
    assert len(gateway.calls) == 2


def test_refresh_inside_the_window_rotates_and_persists_both_tokens_in_one_save(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    store = RecordingStore()
    tokens = manager(gateway, clock, store)
    old = tokens.refresh()
    clock.advance(7 * DAY - 1800)

    new = tokens.refresh()

    assert gateway.calls[-1] == (
        "token.refresh",
        {"grant_type": "refresh_token", "refresh_token": old.refresh_token},
    )
    assert new.access_token != old.access_token and new.refresh_token != old.refresh_token
    assert (new.access_expires_at, new.refresh_expires_at, new.obtained_at) == (
        clock.now + 7 * DAY,
        clock.now + 14 * DAY,
        clock.now,
    )
    assert store.saves == [old, new]
    assert tokens.access_token() == new.access_token


def test_a_pair_the_gateway_declines_to_rotate_is_not_refreshed_per_call(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    gateway.server.set_faults(rotation_window=60.0)  # rotates only in the last minute; our margin: 5 min
    tokens = manager(gateway, clock)
    first = tokens.access_token()
    clock.advance(7 * DAY - 200)
    for _ in range(5):
        assert tokens.access_token() == first
    assert methods(gateway) == ["token.create", "token.refresh"]
    assert gateway.refreshes()["case1"] == 1  # declined: the same pair came back
    clock.advance(200)  # now actually expired
    assert tokens.access_token() != first
    assert methods(gateway) == ["token.create", "token.refresh", "token.refresh"]


def test_locally_expired_refresh_token_needs_reauthorization_without_an_api_call(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    pair = stored_pair(T0 - 15 * DAY)
    tokens = manager(
        gateway, clock, InMemoryTokenStore(pair), auth_mode="code", label="connection 'douyin_default'"
    )
    with pytest.raises(DouyinReauthorizationRequired) as info:
        tokens.access_token()
    assert gateway.calls == []
    message = str(info.value)
    assert "refresh token has expired" in message
    assert "connection 'douyin_default'" in message
    assert "authorization code" in message and "token bootstrap" in message
    assert pair.refresh_token not in message


def test_refresh_token_rejected_by_the_gateway_needs_reauthorization(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    pair = stored_pair(T0 - 8 * DAY)  # access expired, refresh token alive locally but unknown to the gateway
    tokens = manager(gateway, clock, InMemoryTokenStore(pair), auth_mode="code")
    with pytest.raises(DouyinReauthorizationRequired) as info:
        tokens.access_token()
    assert methods(gateway) == ["token.refresh"]
    error = info.value
    assert (error.code, error.sub_code) == (50001, "dop.token-generate-failed:token-invalid")
    assert error.log_id and error.log_id in str(error)
    assert f"shop {SHOP_ID}" in str(error)


def test_self_use_app_recovers_a_dead_refresh_token_with_token_create(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    store = InMemoryTokenStore(stored_pair(T0 - 15 * DAY))
    token = manager(gateway, clock, store).access_token()
    assert gateway.calls == [("token.create", CREATE_PARAMS)]
    assert store.load().access_token == token


def test_tool_app_bootstraps_an_empty_store_from_the_configured_refresh_token(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    bootstrap = gateway.grant()  # what the bootstrap tool got from the gateway
    masked: list[str] = []
    store = InMemoryTokenStore()
    tokens = manager(
        gateway,
        clock,
        store,
        auth_mode="code",
        refresh_token=bootstrap.refresh_token,
        secret_masker=masked.append,
    )
    assert masked == [bootstrap.refresh_token]  # masked at construction, before any call

    assert tokens.access_token() == bootstrap.access_token
    assert gateway.calls == [
        ("token.refresh", {"grant_type": "refresh_token", "refresh_token": bootstrap.refresh_token})
    ]
    assert store.load().refresh_token == bootstrap.refresh_token
    assert bootstrap.access_token in masked


def test_tool_app_with_empty_store_and_no_bootstrap_token_needs_reauthorization(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    with pytest.raises(DouyinReauthorizationRequired, match="token store is empty"):
        manager(gateway, clock, auth_mode="code").access_token()
    assert gateway.calls == []


def test_a_rotation_by_another_worker_is_adopted_from_the_store(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    store = InMemoryTokenStore(stored_pair())
    tokens = manager(gateway, clock, store)
    cached = tokens.access_token()
    clock.advance(7 * DAY - 100)  # inside the margin of the cached pair
    store.save(stored_pair(clock.now, suffix="other-worker"))

    assert tokens.access_token() == store.load().access_token != cached
    assert gateway.calls == []


def test_invalidate_adopts_a_newer_stored_token_without_refreshing(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    store = InMemoryTokenStore(stored_pair())
    tokens = manager(gateway, clock, store)
    failed = tokens.access_token()
    store.save(stored_pair(suffix="rotated"))
    assert tokens.invalidate(failed) == store.load().access_token
    assert gateway.calls == []


def test_invalidate_refreshes_once_when_the_store_still_holds_the_failed_token(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    # The gateway expired it a second ago; the store believes it has a day left.
    pair = replace(gateway.grant(age=7 * DAY + 1), access_expires_at=clock.now + DAY)
    assert not gateway.accepts(pair.access_token)
    tokens = manager(gateway, clock, InMemoryTokenStore(pair))
    fresh = tokens.invalidate(tokens.access_token())
    assert fresh != pair.access_token
    assert methods(gateway) == ["token.refresh"]
    assert gateway.accepts(fresh)


def test_concurrent_refresh_by_two_workers_ends_with_one_newest_pair(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    """Two workers (own managers and locks) share one store; the gateway refuses the second with 31012."""
    old = gateway.grant()
    store = RecordingStore(old)
    clock.advance(7 * DAY - 1800)  # inside the rotation window
    # The gateway holds the first refresh in flight long enough for the second to arrive during it.
    gateway.server.set_faults(refresh_hold_ms=1000)

    def first_in_flight() -> bool:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if gateway.server.stats()["requests_by_method"].get("token.refresh"):
                return True
            time.sleep(0.005)
        return False

    workers = [
        manager(gateway, clock, store, lock_key="worker-1"),
        # "sleep briefly" lasts until the first worker has saved, which keeps the test deterministic
        manager(gateway, clock, store, lock_key="worker-2", sleep=lambda _s: store.saved.wait(5)),
    ]
    results: dict[int, TokenPair] = {}

    def run(index: int) -> None:
        results[index] = workers[index].refresh()

    first = threading.Thread(target=run, args=(0,))
    second = threading.Thread(target=run, args=(1,))
    first.start()
    assert first_in_flight()
    second.start()
    first.join(10)
    second.join(10)

    refreshes = gateway.refreshes()
    assert (refreshes["concurrent"], refreshes["case2"] + refreshes["case3"]) == (1, 1)  # 1 race, 1 rotation
    assert methods(gateway) == ["token.refresh", "token.refresh"]
    assert results[0] == results[1] == store.load()
    assert results[0].access_token != old.access_token
    assert len(store.saves) == 1
    assert gateway.accepts(results[0].access_token)


def test_token_race_retries_are_bounded(clock: FakeClock) -> None:
    calls: list[str] = []

    def always_racing(method: str, params: Any) -> Any:
        calls.append(method)
        raise error_for(envelope(50002, sub_code="isv.business-failed:31012"), method=method)

    tokens = TokenManager(
        store=InMemoryTokenStore(stored_pair()),
        token_call=always_racing,
        shop_id=SHOP_ID,
        clock=clock,
        sleep=clock.sleep,
    )
    with pytest.raises(DouyinTokenRaceError):
        tokens.refresh(force=True)
    assert calls == ["token.refresh"] * 5
    assert len(clock.slept) == 4
    assert all(0.2 <= slept <= 1.0 for slept in clock.slept)


def test_a_malformed_token_response_is_a_request_error_without_token_values(clock: FakeClock) -> None:
    tokens = TokenManager(
        store=InMemoryTokenStore(),
        token_call=lambda method, params: {"access_token": "act.half-a-pair-77", "expires_in": 100},
        shop_id=SHOP_ID,
        clock=clock,
    )
    with pytest.raises(DouyinRequestError) as info:
        tokens.access_token()
    assert "act.half-a-pair-77" not in str(info.value)


def test_secret_masker_sees_created_and_loaded_tokens(gateway: SandboxGateway, clock: FakeClock) -> None:
    masked: list[str] = []
    pair = stored_pair()
    manager(gateway, clock, InMemoryTokenStore(pair), secret_masker=masked.append).access_token()
    assert {pair.access_token, pair.refresh_token} <= set(masked)
    masked.clear()
    store = InMemoryTokenStore()
    token = manager(gateway, clock, store, secret_masker=masked.append).access_token()
    assert methods(gateway) == ["token.create"]
    assert {token, store.load().refresh_token} <= set(masked)


def test_token_pair_json_round_trip_and_hidden_repr() -> None:
    pair = stored_pair()
    assert TokenPair.from_json(pair.to_json()) == pair
    assert TokenPair.from_json({**pair.__dict__, "shop_id": 123456}).shop_id == "123456"
    for text in (repr(pair), str(pair)):
        assert pair.access_token not in text and pair.refresh_token not in text
        assert "access_expires_at" in text


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            '{"access_token": "act.secret-value-1", "access_expires_at": 1}',
            "lacks refresh_token, refresh_expires_at",
        ),
        ('{"access_token": "act.secret-value-1", ', "not valid JSON"),
        ('["act.secret-value-1"]', "must be a JSON object"),
    ],
)
def test_token_pair_parse_errors_never_echo_the_content(raw: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as info:
        TokenPair.from_json(raw)
    assert "secret-value" not in str(info.value)


def test_in_memory_store_is_thread_safe() -> None:
    store = InMemoryTokenStore()
    pairs = [stored_pair(suffix=str(n)) for n in range(50)]
    threads = [threading.Thread(target=store.save, args=(pair,)) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.load() in pairs


class KeyedStore:
    """Like one Airflow Variable store per hook: separate objects, same key, shared backend."""

    def __init__(self, key: str, backend: InMemoryTokenStore) -> None:
        self.key = key
        self._backend = backend

    def load(self) -> TokenPair | None:
        return self._backend.load()

    def save(self, pair: TokenPair) -> None:
        self._backend.save(pair)


def test_refreshes_of_stores_with_the_same_key_are_serialised_in_process(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    """Two hooks in one process build separate stores for one Variable: one refresh reaches the gateway."""
    backend = InMemoryTokenStore(gateway.grant())
    clock.advance(7 * DAY - 1800)
    gateway.server.set_faults(refresh_hold_ms=50)  # each refresh stays in flight for 50 ms
    workers = [manager(gateway, clock, KeyedStore("douyin_token__shop_a", backend)) for _ in range(2)]
    threads = [threading.Thread(target=worker.refresh) for worker in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert methods(gateway) == ["token.refresh"]
    assert gateway.refreshes()["concurrent"] == 0


def test_invalidate_does_not_adopt_an_expired_stored_pair(gateway: SandboxGateway, clock: FakeClock) -> None:
    """A differing stored pair whose access token has expired is refreshed, not handed out."""
    store = InMemoryTokenStore(stored_pair())
    tokens = manager(gateway, clock, store)
    failed = tokens.access_token()
    expired = gateway.grant(age=7 * DAY + 1)
    store.save(expired)

    token = tokens.invalidate(failed)

    assert token not in (failed, expired.access_token)
    assert gateway.calls == [
        ("token.refresh", {"grant_type": "refresh_token", "refresh_token": expired.refresh_token})
    ]
    assert store.load().access_token == token


def test_a_refused_refresh_re_reads_the_store_and_adopts_the_other_workers_pair(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    """Tool app: another worker rotated after expiry (our refresh token died) and saves its pair late."""
    rotated_away = stored_pair(clock.now - 7 * DAY - 1)  # expired; unknown to the gateway by now
    store = InMemoryTokenStore(rotated_away)
    winner = gateway.grant()

    def winner_saves_during_backoff(seconds: float) -> None:
        clock.sleep(seconds)
        store.save(winner)

    tokens = manager(gateway, clock, store, auth_mode="code", sleep=winner_saves_during_backoff)

    assert tokens.access_token() == winner.access_token
    assert methods(gateway) == ["token.refresh"]
    assert clock.slept == [REFUSAL_BACKOFF[0]]


def test_a_refused_refresh_with_an_unexpired_newer_pair_refreshes_that_one(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    """The newer stored pair is expired too: its refresh token is used, still no re-authorization."""
    store = InMemoryTokenStore(stored_pair(clock.now - 7 * DAY - 1))
    newer = gateway.grant(age=7 * DAY)  # expires exactly now

    def newer_saved(seconds: float) -> None:
        clock.sleep(seconds)
        store.save(newer)

    tokens = manager(gateway, clock, store, auth_mode="code", sleep=newer_saved)
    token = tokens.access_token()

    assert token not in (newer.access_token, store.load().refresh_token)
    assert [params.get("refresh_token") for _, params in gateway.calls][-1] == newer.refresh_token
    assert methods(gateway) == ["token.refresh", "token.refresh"]


def test_reauthorization_only_when_the_newest_stored_refresh_token_is_refused(
    gateway: SandboxGateway, clock: FakeClock
) -> None:
    pair = stored_pair(clock.now - 7 * DAY - 1)  # unknown to the gateway, and nobody saves a newer one
    store = InMemoryTokenStore(pair)
    with pytest.raises(DouyinReauthorizationRequired) as info:
        manager(gateway, clock, store, auth_mode="code").access_token()
    assert methods(gateway) == ["token.refresh"]  # the refused token is not re-sent
    assert clock.slept == list(REFUSAL_BACKOFF)  # the store was re-read across the whole backoff
    assert info.value.sub_code == "dop.token-generate-failed:token-invalid"
    assert store.load() == pair
