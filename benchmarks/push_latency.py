"""Push-to-row latency: from a signed push reaching the receiver to the changed row in the warehouse.

A real deployment, as ``tests/airflow/test_push_realtime.py`` builds it: ``douyin-push serve``,
``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` (LocalExecutor on a
throwaway PostgreSQL metadata database), the sandbox gateway in this process, SQLite warehouse
holding the message tables. Every ``--interval`` seconds the sandbox changes one order and this
script sends the signed push (``tag 105``, delivered twice); a watcher polls the warehouse and
stamps each change when its row holds that version or a newer one. One warm-up change lands
first, so the figures exclude the watcher's start. Reports p50 / p95 / max over
``--changes`` changes and how many landed within 60 s.

    PYTHONPATH=. .venv/bin/python benchmarks/push_latency.py [--changes 100] [--interval 0.5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between changes")
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--timeout", type=float, default=600, help="give up on unlanded changes after this")
    args = parser.parse_args()

    import requests

    import tests.conftest  # noqa: F401  (an isolated AIRFLOW_HOME before Airflow is imported)
    from airflow_provider_douyin.sandbox import SandboxServer
    from airflow_provider_douyin.sandbox.config import SandboxConfig
    from tests.airflow.deployment import free_port, throwaway_database
    from tests.airflow.test_push_realtime import SHOP_ID, changed_orders, realtime_deployment, wait_landed
    from tests.push.pushkit import doudian_body, doudian_headers, order_record

    workdir = Path(tempfile.mkdtemp(prefix="push-latency-"))
    sent: list[tuple[str, int, float]] = []  # (order_id, version, sent_at)
    landed_at: dict[int, float] = {}
    with (
        SandboxServer(SandboxConfig.from_kwargs(orders=args.orders, seed=31)).start() as sandbox,
        throwaway_database("push_bench") as metadata,
        realtime_deployment(workdir, metadata, sandbox, free_port()) as realtime,
    ):
        # Warm-up: one change landed end to end, so the watcher runs and the figures are steady state.
        warm = changed_orders(sandbox, lambda: sandbox.mutate(updates=1, shop_id=SHOP_ID))
        for order_id in warm:
            body = doudian_body(order_record(order_id, tag="105", msg_id=f"warm-up:{order_id}"))
            requests.post(realtime.receiver_url, data=body, headers=doudian_headers(body), timeout=10)
        wait_landed(realtime, warm, time.time())
        started = time.monotonic()

        def send_changes() -> None:
            for n in range(args.changes):
                changed = changed_orders(sandbox, lambda: sandbox.mutate(updates=1, shop_id=SHOP_ID))
                for order_id, version in changed.items():
                    body = doudian_body(order_record(order_id, tag="105", msg_id=f"bench:{n}:{order_id}"))
                    sent_at = time.time()
                    for _ in range(2):
                        requests.post(
                            realtime.receiver_url, data=body, headers=doudian_headers(body), timeout=10
                        )
                    sent.append((order_id, version, sent_at))
                time.sleep(args.interval)

        sender = threading.Thread(target=send_changes)
        sender.start()
        while (sender.is_alive() or len(landed_at) < len(sent)) and time.monotonic() - started < args.timeout:
            pending = [(i, s) for i, s in enumerate(list(sent)) if i not in landed_at]
            if pending:
                versions = realtime.landed_versions(sorted({s[0] for _, s in pending}))
                now = time.time()
                for i, (order_id, version, _) in pending:
                    if versions.get(order_id, -1) >= version:
                        landed_at[i] = now
            time.sleep(0.2)
        sender.join()

    latencies = sorted(landed_at[i] - sent[i][2] for i in landed_at)
    lost = len(sent) - len(latencies)
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else latencies * 99
    print("\n=== push_latency ===")
    print(f"command: {' '.join(sys.argv)}")
    print(f"changes sent: {len(sent)} (each pushed twice), landed: {len(latencies)}, not landed: {lost}")
    print(f"push-to-row latency s: p50 {q[49]:.1f}  p95 {q[94]:.1f}  max {latencies[-1]:.1f}")
    print(f"landed within 60 s: {sum(v <= 60 for v in latencies)}/{len(sent)}")
    print(f"workdir (service logs): {workdir}")
    return 0 if not lost else 1


if __name__ == "__main__":
    sys.exit(main())
