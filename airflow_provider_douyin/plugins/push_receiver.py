"""Airflow plugin that mounts the push receiver in the API server at ``/douyin/push``.

Registered through the ``airflow.plugins`` entry point. The receiver is built on the first
request, so an API server whose store is unreachable still starts and serves everything else.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from airflow_provider_douyin.push.app import MOUNT_PATH, create_app
from airflow_provider_douyin.push.receiver import PushReceiver


@cache
def _receiver_app() -> FastAPI:
    from airflow_provider_douyin.hooks.push import ConnectionCredentials, push_store

    return create_app(PushReceiver(push_store(), ConnectionCredentials()))


def _lazy_app() -> Any:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # a mounted app gets no lifespan; nothing here speaks websockets
            return
        try:
            target = _receiver_app()
        except Exception:
            response = JSONResponse({"code": 1, "msg": "fail: message store unavailable"}, status_code=503)
            await response(scope, receive, send)
            return
        await target(scope, receive, send)

    return app


class DouyinPushReceiverPlugin(AirflowPlugin):
    name = "douyin_push_receiver"
    fastapi_apps = [{"app": _lazy_app(), "url_prefix": MOUNT_PATH, "name": "Douyin push receiver"}]
