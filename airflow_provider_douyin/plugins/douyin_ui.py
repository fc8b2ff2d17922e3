"""The Douyin page in the Airflow UI: token, stream and push-receiver health, and the same as JSON.

An Airflow 3 plugin: a FastAPI app mounted by the API server at ``/douyin-status`` (``/douyin-status/`` is the
page, ``/douyin-status/api/status`` the JSON for monitoring systems) and an external view that puts
"Douyin" in the UI's navigation, showing the page inside the UI at ``/plugin/douyin``.

Both routes sit behind Airflow's own authentication (the UI's session cookie or an API bearer
token) and need read access to Variables and assets, the data they are built from. The page is
rendered on the server from :mod:`airflow_provider_douyin.plugins.status`; it shows times and
counts, never a token.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import Any

from airflow.api_fastapi.core_api.security import requires_access_asset, requires_access_variable
from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from airflow_provider_douyin.plugins.status import page_data
from airflow_provider_douyin.ui import DOUYIN_PINK

URL_PREFIX = "/douyin-status"
"""Not ``/douyin``: a mount there would shadow the push receiver at ``/douyin/push``."""
RECEIVER_NOT_CONFIGURED = "receiver not configured"


def _current_data() -> dict[str, Any]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return page_data(session)


app = FastAPI(
    title="Douyin provider status",
    dependencies=[Depends(requires_access_variable("GET")), Depends(requires_access_asset("GET"))],
)


@app.exception_handler(HTTPException)
async def _login_first(request: Request, exc: HTTPException) -> Response:
    """A browser without a session is sent to Airflow's login and back; API clients get the error."""
    if exc.status_code == 401 and request.url.path.rstrip("/") == URL_PREFIX:
        from airflow.api_fastapi.app import get_auth_manager

        return RedirectResponse(get_auth_manager().get_url_login(next_url=str(request.url)))
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


@app.get("/api/status")
def status() -> dict[str, Any]:
    """The page's data as JSON: ``connections``, ``streams``, ``push``; times are ISO 8601 UTC."""
    return _current_data()


@app.get("/", response_class=HTMLResponse)
def page() -> str:
    return render_page(_current_data())


def show_time(value: str | None) -> str:
    """``2026-12-10 09:30:00 UTC``: unambiguous on a page read from any time zone."""
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def show_age(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    minutes = int(seconds // 60)
    days, hours, mins = minutes // 1440, minutes // 60 % 24, minutes % 60
    return f"{days}d {hours}h {mins:02d}m" if days else f"{hours}h {mins:02d}m"


def _cell(text: Any, css: str = "") -> str:
    return f'<td class="{css}">{escape(str(text))}</td>' if css else f"<td>{escape(str(text))}</td>"


def _table(title: str, headers: list[str], rows: list[str], empty: str) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(rows) or f'<tr><td colspan="{len(headers)}" class="empty">{escape(empty)}</td></tr>'
    return f"<h2>{escape(title)}</h2><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _connection_row(c: dict[str, Any]) -> str:
    days = c.get("chain_days_left")
    chain = (
        "renewed on demand" if c.get("kind") == "client" else ("—" if days is None else f"{days:.1f} days")
    )
    return (
        f'<tr data-connection="{escape(c["name"])}">'
        + _cell(c["name"])
        + _cell(show_time(c.get("access_expires_at")))
        + _cell(show_time(c.get("refresh_expires_at")))
        + _cell(chain, "warn" if days is not None and days < 7 else "")
        + _cell(show_time(c.get("last_refresh_at")))
        + _cell(show_time(c.get("last_check_at")))
        + _cell(
            c.get("error")
            or (f"{show_time(c['last_error_at'])}: {c['last_error']}" if c.get("last_error") else "—"),
            "error" if c.get("error") or c.get("last_error") else "",
        )
        + "</tr>"
    )


def _reconciliation(result: Any) -> tuple[str, str]:
    if not isinstance(result, dict):
        return "—", ""
    counts = result.get("counts") or {}
    found = ", ".join(f"{kind} {counts[kind]}" for kind in ("missing", "extra", "stale") if counts.get(kind))
    details = f" ({found})" if found else ""
    verdict = "ok" if result.get("ok") else "mismatch"
    return f"{verdict}{details} at {show_time(result.get('checked_at'))}", "" if result.get("ok") else "error"


def _stream_row(s: dict[str, Any]) -> str:
    rows = ", ".join(f"{table} {count}" for table, count in s["rows"].items()) or "—"
    reconciliation, css = _reconciliation(s.get("reconciliation"))
    return (
        f'<tr data-stream="{escape(s["stream"])}" data-conn-id="{escape(s["conn_id"])}" '
        f'data-target="{escape(s["target"])}">'
        + _cell(s["conn_id"])
        + _cell(s["stream"])
        + _cell(s["target"])
        + _cell(show_time(s.get("watermark")))
        + _cell(show_age(s.get("freshness_seconds")))
        + _cell(show_time(s.get("last_run_at")))
        + _cell(rows)
        + _cell(reconciliation, css)
        + "</tr>"
    )


def _push_row(p: dict[str, Any]) -> str:
    return (
        f'<tr data-receiver="{escape(str(p.get("conn_id")))}">'
        + _cell(p.get("conn_id"))
        + _cell(p.get("messages_last_hour", "—"))
        + _cell(
            p.get("rejected_signatures_last_hour", "—"),
            "error" if p.get("rejected_signatures_last_hour") else "",
        )
        + _cell(p.get("parked", "—"), "warn" if p.get("parked") else "")
        + _cell(show_time(p.get("last_message_at")))
        + "</tr>"
    )


STYLE = f"""
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; color: #1f2328; }}
h1 {{ color: {DOUYIN_PINK}; margin-bottom: 0; }}
h2 {{ margin-top: 2rem; font-size: 1.1rem; }}
table {{ border-collapse: collapse; width: 100%; font-size: 0.9rem; }}
th, td {{ border-bottom: 1px solid #d0d7de; padding: 0.35rem 0.6rem; text-align: left; vertical-align: top; }}
th {{ background: #f6f8fa; }}
td.warn {{ color: #9a6700; font-weight: 600; }}
td.error {{ color: #cf222e; }}
td.empty {{ color: #656d76; font-style: italic; }}
.meta {{ color: #656d76; font-size: 0.85rem; }}
"""


def render_page(data: dict[str, Any]) -> str:
    """The whole page, every value escaped; refreshes itself every minute."""
    connections = _table(
        "Connections",
        [
            "Connection",
            "Access token expires",
            "Refresh token expires",
            "Refresh chain left",
            "Last refresh",
            "Last maintenance",
            "Last error",
        ],
        [_connection_row(c) for c in data["connections"]],
        "no stored tokens yet: run the token maintenance DAG or a sync",
    )
    streams = _table(
        "Streams",
        [
            "Connection",
            "Stream",
            "Target",
            "Watermark",
            "Freshness",
            "Last run",
            "Rows in last run",
            "Last reconciliation",
        ],
        [_stream_row(s) for s in data["streams"]],
        "no stream has landed yet",
    )
    push = _table(
        "Push receiver",
        ["Connection", "Messages (last hour)", "Rejected signatures (last hour)", "Parked", "Last message"],
        [_push_row(p) for p in data["push"]],
        RECEIVER_NOT_CONFIGURED,
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta http-equiv="refresh" content="60"><title>Douyin</title>'
        f"<style>{STYLE}</style></head><body><h1>Douyin</h1>"
        f'<p class="meta">As of {escape(show_time(data["generated_at"]))} · '
        f'<a href="{URL_PREFIX}/api/status">JSON</a></p>{connections}{streams}{push}</body></html>'
    )


class DouyinUIPlugin(AirflowPlugin):
    """Registered through the ``airflow.plugins`` entry point of the distribution."""

    name = "douyin"
    fastapi_apps = [{"app": app, "url_prefix": URL_PREFIX, "name": "Douyin provider status"}]
    external_views = [
        {
            "name": "Douyin",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "category": "browse",
            "url_route": "douyin",
        }
    ]
