"""``douyin-push``: the standalone push receiver, for deployments that keep the Airflow API server private.

``douyin-push serve --port 8090`` answers ``POST /douyin/push/doudian/{conn_id}`` and
``POST /douyin/push/open/{conn_id}``, reading connections the way Airflow does (``AIRFLOW_CONN_*``,
secrets backends, the metadata database) and storing messages in ``--store-conn-id`` (a SQL
connection, usually the warehouse the realtime DAG writes to), else in the local default store,
whose location it prints on start-up.
"""

from __future__ import annotations

import argparse
import logging
import sys

from airflow_provider_douyin.push.receiver import DEFAULT_MAX_BODY


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="douyin-push", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the push receiver")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--host", default="0.0.0.0", help="interface to bind (default: all)")
    serve.add_argument(
        "--store-conn-id",
        default=None,
        help="SQL connection holding the message tables (default: $DOUYIN_PUSH_STORE_CONN_ID, "
        "[douyin] push_store_conn_id, else a local SQLite file)",
    )
    serve.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import uvicorn

    from airflow_provider_douyin.hooks.push import ConnectionCredentials, push_store, store_conn_id
    from airflow_provider_douyin.push.app import MOUNT_PATH, create_server_app
    from airflow_provider_douyin.push.receiver import PushReceiver

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    conn_id = store_conn_id(args.store_conn_id)
    store = push_store(conn_id)
    where = (
        f"connection {conn_id!r} ({store.location})"
        if conn_id
        else f"the local default store {store.location}"
    )
    print(f"douyin-push: messages are kept in {where}", flush=True)
    print(
        f"douyin-push: listening on http://{args.host}:{args.port}{MOUNT_PATH}/doudian/<conn_id> "
        f"and {MOUNT_PATH}/open/<conn_id>",
        flush=True,
    )
    receiver = PushReceiver(store, ConnectionCredentials(), max_body=args.max_body_bytes)
    uvicorn.run(create_server_app(receiver), host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    sys.exit(main())
