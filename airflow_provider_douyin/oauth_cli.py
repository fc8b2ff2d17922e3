"""``douyin-oauth``: the one-time user authorization of a ``douyin_open`` connection.

1. ``douyin-oauth url --conn-id CONN`` prints the authorization page for the connection's client_key,
   scopes and redirect URI; the Douyin account holder opens it and approves.
2. The platform redirects to the redirect URI with ``?code=…``; ``douyin-oauth exchange --conn-id CONN
   CODE`` trades the code for the user's tokens and stores them where the tasks read them (the
   Variable ``douyin_token__CONN`` in the metadata database). From then on the tasks refresh and
   renew them; the token maintenance DAG warns before the chain runs out.

Run it where the Airflow CLI runs (it needs the metadata database and the connection). No token is
ever printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from urllib.parse import urlencode

from airflow_provider_douyin.client.errors import DouyinError
from airflow_provider_douyin.client.open_platform import ACCESS_TOKEN, OPEN_PRODUCTION_URL
from airflow_provider_douyin.client.open_tokens import chain_from_authorization

AUTHORIZE_PATH = "/platform/oauth/connect/"


def authorization_url(
    base_url: str | None, client_key: str, scopes: tuple[str, ...], redirect_uri: str, state: str
) -> str:
    query = urlencode(
        {
            "client_key": client_key,
            "response_type": "code",
            "scope": ",".join(scopes),
            "redirect_uri": redirect_uri,
            "state": state,
        }
    )
    return f"{(base_url or OPEN_PRODUCTION_URL).rstrip('/')}{AUTHORIZE_PATH}?{query}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="seconds")


def _url(args: argparse.Namespace) -> int:
    from airflow_provider_douyin.hooks.open_platform import DouyinOpenHook

    cfg = DouyinOpenHook(args.conn_id).config
    scopes = tuple(args.scope.split(",")) if args.scope else cfg.scopes
    redirect_uri = args.redirect_uri or cfg.redirect_uri
    if not scopes or not redirect_uri:
        missing = " and ".join(
            name for name, value in (("scopes", scopes), ("redirect_uri", redirect_uri)) if not value
        )
        print(
            f"douyin-oauth: connection {args.conn_id!r} needs extra {missing} "
            "(or pass --scope/--redirect-uri)",
            file=sys.stderr,
        )
        return 2
    print(authorization_url(cfg.base_url, cfg.client_key, scopes, redirect_uri, args.state))
    return 0


def _exchange(args: argparse.Namespace) -> int:
    from airflow_provider_douyin.hooks.open_platform import DouyinOpenHook

    with DouyinOpenHook(args.conn_id) as hook:
        store = hook.user_token_store
        if not store.persistent:
            print(
                "douyin-oauth: no reachable Airflow metadata database, so the tokens could not be stored; "
                "run this where `airflow` commands work (AIRFLOW_HOME / AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)",
                file=sys.stderr,
            )
            return 2
        data = hook.client.call(ACCESS_TOKEN, {"code": args.code, "grant_type": "authorization_code"})
        chain = chain_from_authorization(data, time.time())
        store.save(chain)
    print(
        f"Stored the authorization of open_id {chain.open_id or '?'} (scope {chain.scope or '?'}) "
        f"in Variable "
        f"{store.key}: access token until {_iso(chain.access_expires_at)}, refresh token until "
        f"{_iso(chain.refresh_expires_at)}, 5 renewals left."
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="douyin-oauth", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    url = commands.add_parser("url", help="print the authorization URL for a douyin_open connection")
    url.add_argument("--conn-id", required=True)
    url.add_argument("--scope", help="comma-separated scopes (default: the connection's 'scopes' extra)")
    url.add_argument("--redirect-uri", help="default: the connection's 'redirect_uri' extra")
    url.add_argument("--state", default="airflow-provider-douyin", help="echoed back to the redirect URI")
    url.set_defaults(run=_url)
    exchange = commands.add_parser("exchange", help="trade an authorization code for tokens and store them")
    exchange.add_argument("--conn-id", required=True)
    exchange.add_argument("code", help="the code= value the redirect URI received")
    exchange.set_defaults(run=_exchange)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except DouyinError as exc:
        print(f"douyin-oauth: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
