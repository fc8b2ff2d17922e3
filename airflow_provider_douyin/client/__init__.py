"""Airflow-free Douyin/Doudian API client: signing, transport, retries, rate limiting and tokens.

Nothing here imports Airflow; the hooks wrap these classes and pass ``airflow.sdk.log.mask_secret`` as
``secret_masker`` and an Airflow-Variable-backed :class:`TokenStore`.
"""

from airflow_provider_douyin.client.doudian_client import DoudianShopClient
from airflow_provider_douyin.client.errors import (
    DouyinAuthError,
    DouyinDeadlineError,
    DouyinError,
    DouyinIncompleteReadError,
    DouyinReauthorizationRequired,
    DouyinRecordError,
    DouyinRequestError,
    DouyinResponseShapeError,
    DouyinThrottledError,
    DouyinTokenRaceError,
    DouyinTransientError,
    check_inner_code,
    error_for,
)
from airflow_provider_douyin.client.ratelimit import AdaptiveLimiter, TokenBucket, app_limiter
from airflow_provider_douyin.client.retry import RetryPolicy
from airflow_provider_douyin.client.signing import canonical_param_json, sign_request
from airflow_provider_douyin.client.tokens import InMemoryTokenStore, TokenManager, TokenPair, TokenStore
from airflow_provider_douyin.client.transport import ApiResponse, Transport

__all__ = [
    "AdaptiveLimiter",
    "ApiResponse",
    "DoudianShopClient",
    "DouyinAuthError",
    "DouyinDeadlineError",
    "DouyinError",
    "DouyinIncompleteReadError",
    "DouyinReauthorizationRequired",
    "DouyinRecordError",
    "DouyinRequestError",
    "DouyinResponseShapeError",
    "DouyinThrottledError",
    "DouyinTokenRaceError",
    "DouyinTransientError",
    "InMemoryTokenStore",
    "RetryPolicy",
    "TokenBucket",
    "TokenManager",
    "TokenPair",
    "TokenStore",
    "Transport",
    "app_limiter",
    "canonical_param_json",
    "check_inner_code",
    "error_for",
    "sign_request",
]
