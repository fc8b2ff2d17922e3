"""The exact requests the Douyin Open Platform receives, and how its replies are judged.

Requests go through the real :class:`Transport` (requests' HTTP stack, caught by requests-mock), so
what is asserted is what leaves the process.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_douyin import __version__
from airflow_provider_douyin.client.errors import (
    DouyinAuthError,
    DouyinError,
    DouyinReauthorizationRequired,
    DouyinRequestError,
    DouyinResponseShapeError,
    DouyinThrottledError,
    DouyinTransientError,
)
from airflow_provider_douyin.client.open_platform import (
    CLIENT_TOKEN,
    LIFE_ORDER_QUERY,
    REFRESH_TOKEN,
    RENEW_REFRESH_TOKEN,
    OpenPlatformProtocol,
)
from airflow_provider_douyin.client.retry import RetryPolicy
from airflow_provider_douyin.client.transport import Transport

BASE_URL = "https://open.example.test"
CLIENT_KEY = "awq1example0key"
CLIENT_SECRET = "open-client-secret-0123456789"
CLIENT_TOKEN_VALUE = "clt.0123456789abcdef0123456789abcdef"
LOG_ID = "202612030800000102251451520303A6F1"


def transport(life_account_id: str | None = None) -> Transport:
    protocol = OpenPlatformProtocol(
        client_key=CLIENT_KEY,
        client_secret=CLIENT_SECRET,
        base_url=BASE_URL,
        life_account_id=life_account_id,
    )
    return Transport(protocol, retry=RetryPolicy(max_attempts=1))


def goodlife(data: dict[str, Any], *, error_code: Any = 0, sub_error_code: Any = 0, **extra: Any) -> dict:
    return {
        "data": {"error_code": 0, "description": "", **data},
        "extra": {
            "error_code": error_code,
            "sub_error_code": sub_error_code,
            "description": "",
            "sub_description": "",
            "logid": LOG_ID,
            "now": 1764748800000,
            **extra,
        },
    }


def test_life_query_is_a_get_with_query_params_and_the_token_header(requests_mock: Any) -> None:
    requests_mock.get(f"{BASE_URL}{LIFE_ORDER_QUERY}", json=goodlife({"orders": [], "page": {"total": 0}}))

    response = transport(life_account_id="7000000000000000001").request(
        LIFE_ORDER_QUERY,
        {"account_id": "7000000000000000001", "page_num": 1, "page_size": 50, "get_secret_number": False},
        access_token=CLIENT_TOKEN_VALUE,
    )

    request = requests_mock.last_request
    assert request.method == "GET"
    assert urlsplit(request.url).path == LIFE_ORDER_QUERY
    assert parse_qsl(urlsplit(request.url).query) == [
        ("account_id", "7000000000000000001"),
        ("page_num", "1"),
        ("page_size", "50"),
        ("get_secret_number", "false"),
    ]
    assert request.body is None
    assert request.headers["access-token"] == CLIENT_TOKEN_VALUE
    assert request.headers["Rpc-Transit-Life-Account"] == "7000000000000000001"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith(f"airflow-provider-douyin/{__version__}")
    assert CLIENT_SECRET not in request.url
    assert response.log_id == LOG_ID
    assert response.data["page"] == {"total": 0}


def test_client_token_posts_the_app_credentials_as_json_without_a_token_header(requests_mock: Any) -> None:
    requests_mock.post(
        f"{BASE_URL}{CLIENT_TOKEN}",
        json={
            "data": {
                "access_token": CLIENT_TOKEN_VALUE,
                "description": "",
                "error_code": 0,
                "expires_in": 7200,
            },
            "message": "success",
        },
    )

    data = transport().request(CLIENT_TOKEN, {"grant_type": "client_credential"}).data

    request = requests_mock.last_request
    assert request.method == "POST"
    assert json.loads(request.body) == {
        "client_key": CLIENT_KEY,
        "grant_type": "client_credential",
        "client_secret": CLIENT_SECRET,
    }
    assert request.headers["Content-Type"] == "application/json"
    assert "access-token" not in request.headers
    assert urlsplit(request.url).query == ""
    assert data["expires_in"] == 7200


@pytest.mark.parametrize("path", [REFRESH_TOKEN, RENEW_REFRESH_TOKEN])
def test_user_token_calls_post_a_form_without_the_client_secret(requests_mock: Any, path: str) -> None:
    requests_mock.post(f"{BASE_URL}{path}", json={"data": {"error_code": 0, "refresh_token": "rft.x"}})

    params = {"refresh_token": "rft.refresh-token-value-0001"}
    if path == REFRESH_TOKEN:
        params["grant_type"] = "refresh_token"
    transport().request(path, params)

    request = requests_mock.last_request
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.body.decode())) == {"client_key": CLIENT_KEY, **params}
    assert CLIENT_SECRET not in request.body.decode()


def test_a_data_call_without_a_token_is_refused_before_sending(requests_mock: Any) -> None:
    with pytest.raises(DouyinRequestError, match="needs an access token"):
        transport().request(LIFE_ORDER_QUERY, {"account_id": "1"})
    assert requests_mock.call_count == 0


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(goodlife({"orders": []}, error_code="0", sub_error_code="0"), id="codes-as-strings"),
        pytest.param({"err_no": 0, "err_msg": "", "log_id": LOG_ID, "data": {"orders": []}}, id="err_no"),
        pytest.param({"err_no": "0", "log_id": LOG_ID, "data": {"orders": []}}, id="err_no-string"),
        pytest.param({"data": {"error_code": "0", "orders": []}, "message": "success"}, id="oauth-style"),
    ],
)
def test_success_envelopes(requests_mock: Any, payload: dict[str, Any]) -> None:
    requests_mock.get(f"{BASE_URL}{LIFE_ORDER_QUERY}", json=payload)
    response = transport().request(LIFE_ORDER_QUERY, {"account_id": "1"}, access_token=CLIENT_TOKEN_VALUE)
    assert response.data["orders"] == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        pytest.param(
            {"extra": {"error_code": 0, "sub_error_code": 0, "logid": LOG_ID}}, "data object", id="no-data"
        ),
        pytest.param(
            {"data": None, "extra": {"error_code": 0, "logid": LOG_ID}}, "data object", id="null-data"
        ),
        pytest.param(
            {"data": [], "extra": {"error_code": 0, "logid": LOG_ID}}, "data object", id="list-data"
        ),
        pytest.param({"data": {"orders": []}}, "any error code", id="no-code-anywhere"),
        pytest.param({"data": {"orders": []}, "message": "success"}, "any error code", id="message-only"),
    ],
)
def test_a_success_reply_that_proves_nothing_is_a_retryable_shape_error(
    requests_mock: Any, payload: dict[str, Any], message: str
) -> None:
    requests_mock.get(f"{BASE_URL}{LIFE_ORDER_QUERY}", json=payload)
    with pytest.raises(DouyinResponseShapeError, match=message) as caught:
        transport().request(LIFE_ORDER_QUERY, {"account_id": "1"}, access_token=CLIENT_TOKEN_VALUE)
    assert caught.value.method == LIFE_ORDER_QUERY


@pytest.mark.parametrize(
    ("where", "code", "cls"),
    [
        ("extra", 28001005, DouyinTransientError),
        ("data", 2100004, DouyinTransientError),
        ("data", 2119002, DouyinTransientError),
        ("data", 5000001, DouyinTransientError),
        ("extra", 28003018, DouyinThrottledError),
        ("data", 2119003, DouyinThrottledError),
        ("extra", 28001008, DouyinAuthError),
        ("data", 2190008, DouyinAuthError),
        ("data", 2190002, DouyinAuthError),
        ("extra", 28001003, DouyinAuthError),
        ("data", 2100005, DouyinRequestError),
        ("extra", 28001007, DouyinRequestError),
        ("data", 2119005, DouyinRequestError),
        ("data", 9999999, DouyinRequestError),
        ("data", "2119003", DouyinThrottledError),
        ("data", "not-a-number", DouyinResponseShapeError),
    ],
)
def test_error_codes_map_to_remedies(requests_mock: Any, where: str, code: Any, cls: type) -> None:
    payload = goodlife({}, error_code=code if where == "extra" else 0)
    if where == "data":
        payload["data"]["error_code"] = code
        payload["extra"]["error_code"] = code
    payload["extra"]["description"] = "失败"
    payload["extra"]["sub_description"] = "detail"
    requests_mock.get(f"{BASE_URL}{LIFE_ORDER_QUERY}", json=payload)

    with pytest.raises(DouyinError) as caught:
        transport().request(LIFE_ORDER_QUERY, {"account_id": "1"}, access_token=CLIENT_TOKEN_VALUE)

    error = caught.value
    assert type(error) is cls
    assert error.log_id == LOG_ID
    assert error.method == LIFE_ORDER_QUERY
    assert LOG_ID in str(error)
    if isinstance(code, int):
        assert error.code == code
        assert f"code={code}" in str(error)


def test_a_non_zero_sub_error_code_alone_fails_the_call(requests_mock: Any) -> None:
    requests_mock.get(f"{BASE_URL}{LIFE_ORDER_QUERY}", json=goodlife({"orders": []}, sub_error_code=2119003))
    with pytest.raises(DouyinThrottledError) as caught:
        transport().request(LIFE_ORDER_QUERY, {"account_id": "1"}, access_token=CLIENT_TOKEN_VALUE)
    assert caught.value.code == 2119003


def test_errors_carry_the_open_platforms_own_field_names(requests_mock: Any) -> None:
    payload = goodlife({}, error_code=2100005, sub_error_code="12")
    payload["data"]["error_code"] = 2100005
    payload["extra"].update(description="参数不合法", sub_description="page_size")
    requests_mock.get(f"{BASE_URL}{LIFE_ORDER_QUERY}", json=payload)

    with pytest.raises(DouyinRequestError) as caught:
        transport().request(LIFE_ORDER_QUERY, {"account_id": "1"}, access_token=CLIENT_TOKEN_VALUE)

    error = caught.value
    assert (error.error_code, error.sub_error_code, error.description, error.logid) == (
        2100005,
        "12",
        "参数不合法",
        LOG_ID,
    )
    assert "sub_msg=page_size" in str(error)


def test_a_missing_scope_names_the_scope_and_where_it_is_granted(requests_mock: Any) -> None:
    payload = goodlife({}, error_code=28001012)
    payload["extra"]["description"] = "scope not authorized"
    requests_mock.get(f"{BASE_URL}{LIFE_ORDER_QUERY}", json=payload)

    with pytest.raises(DouyinRequestError) as caught:
        transport().request(LIFE_ORDER_QUERY, {"account_id": "1"}, access_token=CLIENT_TOKEN_VALUE)

    text = str(caught.value)
    assert "life.capacity.order.query" in text
    assert "developer console" in text
    assert "code=28001012" in text


def test_deep_paging_refusal_says_to_page_by_cursor(requests_mock: Any) -> None:
    requests_mock.get(f"{BASE_URL}{LIFE_ORDER_QUERY}", json=goodlife({}, error_code=4000002))
    with pytest.raises(DouyinRequestError, match="page with cursor"):
        transport().request(LIFE_ORDER_QUERY, {"account_id": "1"}, access_token=CLIENT_TOKEN_VALUE)


def test_code_10020_means_the_client_token_cap_or_the_end_of_renewals(requests_mock: Any) -> None:
    failure = {"data": {"description": "limit", "error_code": 10020}, "extra": {"logid": LOG_ID}}
    requests_mock.post(f"{BASE_URL}{CLIENT_TOKEN}", json=failure)
    requests_mock.post(f"{BASE_URL}{RENEW_REFRESH_TOKEN}", json=failure)

    with pytest.raises(DouyinRequestError, match="500 client-token fetches") as capped:
        transport().request(CLIENT_TOKEN, {"grant_type": "client_credential"})
    assert not isinstance(capped.value, DouyinReauthorizationRequired)
    with pytest.raises(DouyinReauthorizationRequired, match="douyin-oauth url --conn-id"):
        transport().request(RENEW_REFRESH_TOKEN, {"refresh_token": "rft.refresh-token-value-0001"})


def test_http_status_decides_before_the_body(requests_mock: Any) -> None:
    requests_mock.get(f"{BASE_URL}{LIFE_ORDER_QUERY}", status_code=502, text="<html>Bad Gateway</html>")
    with pytest.raises(DouyinTransientError, match="not valid JSON"):
        transport().request(LIFE_ORDER_QUERY, {"account_id": "1"}, access_token=CLIENT_TOKEN_VALUE)


def test_text_echoed_by_the_gateway_never_carries_a_secret(requests_mock: Any) -> None:
    echoed = f"bad request client_secret={CLIENT_SECRET} access-token: {CLIENT_TOKEN_VALUE}"
    payload = goodlife({}, error_code=28001007)
    payload["extra"]["description"] = echoed
    payload["extra"]["sub_description"] = json.dumps({"client_secret": CLIENT_SECRET})
    requests_mock.get(f"{BASE_URL}{LIFE_ORDER_QUERY}", json=payload)

    with pytest.raises(DouyinRequestError) as caught:
        transport().request(LIFE_ORDER_QUERY, {"account_id": "1"}, access_token=CLIENT_TOKEN_VALUE)

    for text in (str(caught.value), repr(caught.value), caught.value.msg, caught.value.sub_msg):
        assert CLIENT_SECRET not in text
        assert CLIENT_TOKEN_VALUE not in text
    assert "bad request" in str(caught.value)


@pytest.mark.parametrize("method", ["/not/declared/", "PUT /x/", "GET x"])
def test_undeclared_methods_are_refused_with_how_to_call_them(requests_mock: Any, method: str) -> None:
    with pytest.raises(DouyinRequestError, match="GET /"):
        transport().request(method, {}, access_token=CLIENT_TOKEN_VALUE)
    assert requests_mock.call_count == 0


def test_an_explicit_verb_calls_any_path(requests_mock: Any) -> None:
    requests_mock.post(f"{BASE_URL}/api/new/thing/", json=goodlife({"ok": True}))
    data = transport().request("POST /api/new/thing/", {"a": [1, 2]}, access_token=CLIENT_TOKEN_VALUE).data
    assert data["ok"] is True
    assert json.loads(requests_mock.last_request.body) == {"a": [1, 2]}
