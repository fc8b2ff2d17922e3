"""Business errors of the gateway: HTTP 200 with a non-10000 ``code``."""

from __future__ import annotations

CODE_MSG = {
    20000: "服务不可用",
    40001: "缺少必选参数（平台校验）",
    40002: "缺少必选参数（业务校验）",
    40003: "非法的参数（平台校验）",
    40004: "非法的参数（业务校验）",
    50001: "平台处理失败",
    50002: "业务处理失败",
    60000: "触发限流，请稍后重试",
    70000: "服务已下线",
}


class ApiError(Exception):
    """Raised anywhere in request handling; the gateway turns it into the error envelope."""

    def __init__(self, code: int, sub_code: str, sub_msg: str) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code = code
        self.sub_code = sub_code
        self.sub_msg = sub_msg

    @property
    def msg(self) -> str:
        return CODE_MSG.get(self.code, "错误")


def invalid(sub_code: str, sub_msg: str = "参数错误") -> ApiError:
    """40004 ``isv.parameter-invalid:<n>`` — business-level parameter validation."""
    return ApiError(
        40004, f"isv.parameter-invalid:{sub_code}" if sub_code else "isv.parameter-invalid", sub_msg
    )


def missing(sub_code: str, sub_msg: str) -> ApiError:
    """40002 ``isv.missing-parameter:<n>`` — a required business parameter is absent."""
    return ApiError(40002, f"isv.missing-parameter:{sub_code}", sub_msg)
