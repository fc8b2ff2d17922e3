"""Envelope classification: the class decides whether a sync retries, refreshes or stops."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_douyin.client import (
    DouyinAuthError,
    DouyinError,
    DouyinReauthorizationRequired,
    DouyinRequestError,
    DouyinThrottledError,
    DouyinTokenRaceError,
    DouyinTransientError,
    check_inner_code,
    error_for,
)

from .fakes import envelope


@pytest.mark.parametrize(
    ("code", "sub_code", "expected"),
    [
        (20000, "isp.service-error:20004", DouyinTransientError),
        (20000, "dop.service-error", DouyinTransientError),
        (20001, "", DouyinTransientError),
        (50000, "", DouyinTransientError),
        (50002, "isv.business-failed:20004", DouyinTransientError),
        (50002, "isv.business-failed:100010", DouyinTransientError),
        (60000, "isv.traffic-limited", DouyinThrottledError),
        (50002, "isv.business-failed:2010401", DouyinThrottledError),
        (50002, "isv.business-failed:31012", DouyinTokenRaceError),
        (50002, "isv.business-failed:31009", DouyinReauthorizationRequired),
        (50002, "isv.business-failed:20015", DouyinRequestError),
        (50001, "dop.token-generate-failed:token-expired", DouyinReauthorizationRequired),
        (50001, "dop.token-generate-failed:token-invalid", DouyinReauthorizationRequired),
        (50001, "dop.token-generate-failed:code-expired", DouyinRequestError),
        (30001, "dop.authorization-closed", DouyinReauthorizationRequired),
        (30001, "dop.authorization-no-existed", DouyinReauthorizationRequired),
        (30001, "dop.no-permissions", DouyinRequestError),
        (40003, "isv.access-token-expired", DouyinAuthError),
        (40003, "isv.access-token-no-existed", DouyinAuthError),
        (40003, "isv.access-token-invalid", DouyinAuthError),
        (40001, "isv.access-token-missing", DouyinAuthError),
        (40003, "isv.signature-invalid", DouyinRequestError),
        (40003, "isv.timestamp-invalid", DouyinRequestError),
        (40004, "isv.parameter-invalid:20013", DouyinRequestError),
        (40002, "isv.missing-parameter:20000", DouyinRequestError),
        (30000, "", DouyinRequestError),
        (30002, "", DouyinRequestError),
        (70000, "isp.api-service-off", DouyinRequestError),
        (80000, "", DouyinRequestError),
        (90000, "dop.unknown-error", DouyinRequestError),
        (10001, "", DouyinRequestError),
    ],
)
def test_envelope_classification(code: int, sub_code: str, expected: type[DouyinError]) -> None:
    error = error_for(envelope(code, sub_code=sub_code), method="order.searchList", http_status=200)
    assert type(error) is expected
    assert (error.code, error.sub_code, error.http_status) == (code, sub_code, 200)


def test_string_codes_are_classified_like_ints() -> None:
    error = error_for({"code": "60000", "sub_code": "isv.traffic-limited"}, method="order.searchList")
    assert isinstance(error, DouyinThrottledError)
    assert error.code == 60000


@pytest.mark.parametrize(("status", "expected"), [(429, DouyinThrottledError), (502, DouyinTransientError)])
def test_http_status_wins_over_the_envelope(status: int, expected: type[DouyinError]) -> None:
    error = error_for(
        envelope(40004, sub_code="isv.parameter-invalid"), method="sku.list", http_status=status
    )
    assert type(error) is expected
    assert f"http_status={status}" in str(error)


def test_message_names_method_code_sub_code_and_log_id() -> None:
    env = envelope(
        40004,
        sub_code="isv.parameter-invalid:20013",
        msg="非法的参数（业务校验）",
        sub_msg="订单查询最多支持查询5万",
        log_id="2021120309135001019405909825AAAA",
    )
    error = error_for(env, method="order.searchList", http_status=200)
    assert str(error) == (
        "order.searchList failed: code=40004 sub_code=isv.parameter-invalid:20013 msg=非法的参数（业务校验） "
        "sub_msg=订单查询最多支持查询5万 log_id=2021120309135001019405909825AAAA"
    )
    assert (error.method, error.msg, error.sub_msg, error.log_id) == (
        "order.searchList",
        "非法的参数（业务校验）",
        "订单查询最多支持查询5万",
        "2021120309135001019405909825AAAA",
    )


def test_reauthorization_message_tells_the_user_what_to_do() -> None:
    error = error_for(envelope(30001, sub_code="dop.authorization-closed"), method="order.searchList")
    assert "authorize the app again" in str(error)
    assert "token bootstrap" in str(error)


@pytest.mark.parametrize(
    ("code", "sub_code", "hint"),
    [
        (40003, "isv.signature-invalid", "app_secret and sign_method"),
        (40003, "isv.timestamp-invalid", "clock"),
        (30002, "", "allow-list"),
    ],
)
def test_config_errors_carry_a_hint(code: int, sub_code: str, hint: str) -> None:
    assert hint in str(error_for(envelope(code, sub_code=sub_code), method="order.searchList"))


def test_legacy_message_field_is_used_when_msg_is_absent() -> None:
    error = error_for(
        {"err_no": 30002, "message": "IP not allowed", "log_id": "x1"}, method="order.orderDetail"
    )
    assert isinstance(error, DouyinRequestError)
    assert "msg=IP not allowed" in str(error)
    assert error.code is None


def test_errors_survive_pickling() -> None:
    error = error_for(
        envelope(60000, sub_code="isv.traffic-limited"), method="product.listV2", http_status=200
    )
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is DouyinThrottledError
    assert (str(clone), clone.sub_code, clone.log_id) == (str(error), error.sub_code, error.log_id)


def test_gateway_text_is_redacted_in_the_attributes_message_and_a_pickled_copy() -> None:
    echoed = "bad call /order/searchList?access_token=act.echoed-0001&sign=9f8e7d&v=2"
    sub_msg = '{"refresh_token": "rft.echoed-1"}'
    failure = envelope(40004, sub_code="isv.parameter-invalid", msg=echoed, sub_msg=sub_msg)
    error = error_for(failure, method="order.searchList")
    clone = pickle.loads(pickle.dumps(error))
    for candidate in (error, clone):
        texts = [str(candidate), repr(candidate), candidate.msg, candidate.sub_msg, *map(str, candidate.args)]
        assert not any(secret in text for text in texts for secret in ("act.echoed", "9f8e7d", "rft.echoed"))
    assert error.msg == "bad call /order/searchList?access_token=***&sign=***&v=2"
    assert error.sub_msg == '{"refresh_token": "***"}'
    assert str(clone) == str(error)


def test_inner_finance_code_success_returns_data() -> None:
    data = {"code": "100000", "code_msg": "success", "data": [], "is_end": 1}
    assert check_inner_code(data, "order.getSettleBillDetailV3") is data


def test_inner_finance_code_failure_is_a_request_error() -> None:
    with pytest.raises(DouyinRequestError) as info:
        check_inner_code(
            {"code": "100026", "code_msg": "时间范围超过7天"}, "order.getSettleBillDetailV3", log_id="L1"
        )
    error = info.value
    assert (error.code, error.sub_code, error.log_id) == (100026, "data.code:100026", "L1")
    assert "时间范围超过7天" in str(error)


def test_missing_inner_finance_code_is_transient() -> None:
    with pytest.raises(DouyinTransientError):
        check_inner_code({"data": []}, "order.getShopAccountItem")
