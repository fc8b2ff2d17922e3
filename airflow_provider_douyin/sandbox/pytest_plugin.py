"""pytest fixtures that start sandbox servers (registered through the ``pytest11`` entry point).

* ``douyin_sandbox_factory`` — call it with ``SandboxConfig`` and/or ``FaultConfig`` field
  names as keyword arguments (e.g. ``orders=200, qps_limit=5``); it returns a started
  ``SandboxServer``. Every server it made is stopped at the end of the test. ``now=<epoch>``
  starts the business clock there; ``server.set_clock(advance_s=...)`` moves it on.
  ``wall_clock=<callable>`` replaces real time for token lifetimes and the timestamp check.
  ``push_url=`` / ``webhook_url=`` (loopback) receive the Doudian push messages and Open Platform
  webhooks the server's changes cause; ``server.wait_for_pushes()`` lists what was delivered.
* ``douyin_sandbox`` — a function-scoped default shop (500 orders, seed 7, no faults).
  Function scope keeps tests independent: faults, tokens and mutations never leak.

The module imports nothing from the sandbox until a fixture runs, because pytest loads
plugins on every run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .server import SandboxServer


@pytest.fixture
def douyin_sandbox_factory() -> Iterator[Callable[..., SandboxServer]]:
    from .config import SandboxConfig
    from .server import SandboxServer

    started: list[SandboxServer] = []

    def make(*, wall_clock: Callable[[], float] = time.time, **kwargs: Any) -> SandboxServer:
        server = SandboxServer(SandboxConfig.from_kwargs(**kwargs), wall_clock=wall_clock).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def douyin_sandbox(douyin_sandbox_factory: Callable[..., SandboxServer]) -> SandboxServer:
    return douyin_sandbox_factory(orders=500)
