"""The receiver as a FastAPI app: ``/doudian/{conn_id}`` and ``/open/{conn_id}``.

Mounted at ``/douyin/push`` both in the Airflow API server (the ``douyin_push_receiver`` plugin)
and by ``douyin-push serve``, so a console URL is the same either way. The body is read up to the
size limit and no further, and handed on as bytes: the signature is checked over exactly those.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from airflow_provider_douyin.push.receiver import PushReceiver

MOUNT_PATH = "/douyin/push"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


async def _bounded_body(request: Request, limit: int) -> bytes | None:
    """The body, or ``None`` as soon as it is longer than ``limit`` (declared or actually sent)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(receiver: PushReceiver) -> FastAPI:
    app = FastAPI(title="Douyin push receiver", docs_url=None, redoc_url=None, openapi_url=None)

    @app.api_route("/{platform}/{conn_id}", methods=METHODS)
    async def push(platform: str, conn_id: str, request: Request) -> JSONResponse:
        raw = await _bounded_body(request, receiver.max_body) if request.method == "POST" else b""
        reply = await run_in_threadpool(
            receiver.handle, platform, conn_id, request.method, request.headers, raw
        )
        return JSONResponse(dict(reply.body), status_code=reply.status)

    return app


def create_server_app(receiver: PushReceiver) -> FastAPI:
    """The standalone server: the receiver at :data:`MOUNT_PATH`, nothing else."""
    root = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    root.mount(MOUNT_PATH, create_app(receiver))
    return root
