"""Provider metadata read by Airflow's provider discovery (entry point ``apache_airflow_provider``).

Kept free of Airflow imports so that discovery is cheap and cannot fail on import.
"""

from __future__ import annotations

from typing import Any

INTEGRATION = "Douyin Shop (Doudian)"

SHOP_CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "shop_id": {
        "label": "Shop ID",
        "description": "Numeric shop id; required for self-use apps (auth mode 'self').",
        "schema": {"type": ["string", "null"], "pattern": "^[0-9]*$"},
    },
    "auth_mode": {
        "label": "Auth mode",
        "description": "Empty or 'authorization_self' for self-use apps (token.create by shop id); "
        "'authorization_code' for tool apps (bootstrapped from a refresh token). 'self' and 'code' "
        "also work, but Airflow warns about every extra shorter than 5 characters.",
        "schema": {
            "type": ["string", "null"],
            "enum": [None, "authorization_self", "authorization_code", "self", "code"],
            "default": None,
        },
    },
    "refresh_token": {
        "label": "Bootstrap refresh token",
        "description": "Tool apps only: the refresh token from the one-time OAuth code exchange.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "sign_method": {
        "label": "Sign method",
        "schema": {"type": "string", "enum": ["hmac-sha256", "md5"], "default": "hmac-sha256"},
    },
    "qps": {
        "label": "QPS",
        "description": "Requests per second for this app_key, shared by every task in a worker process.",
        "schema": {"type": ["number", "null"], "minimum": 0.1, "default": 10},
    },
    "rate_limit_url": {
        "label": "Shared rate limit (Redis URL)",
        "description": "redis://host:6379/0: every worker process and machine syncing this app_key "
        "draws from one QPS budget kept there. Empty: each worker process paces on its own.",
        "schema": {"type": ["string", "null"]},
    },
    "timeout": {
        "label": "Read timeout (seconds)",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 30},
    },
    "deadline": {
        "label": "Attempt deadline (seconds)",
        "description": "Longest one HTTP attempt may take, connect to last body byte; a gateway that "
        "trickles bytes is cut off here and the attempt retried.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 60},
    },
    "retry_budget": {
        "label": "Retry budget (seconds)",
        "description": "Longest one API call may take including its retries, before the task fails "
        "with the last error.",
        "schema": {"type": ["number", "null"], "minimum": 1, "default": 300},
    },
}

SHOP_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"login": "App Key", "password": "App Secret", "host": "Gateway base URL"},
    "placeholders": {
        "host": "empty = production gateway; http://127.0.0.1:8000 for douyin-sandbox",
        "login": "19-digit app_key",
        "extra": '{"shop_id": "1000001"}',
    },
}


OPEN_INTEGRATION = "Douyin Open Platform"

OPEN_CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "account_id": {
        "label": "来客 account ID",
        "description": "The 抖音来客 merchant account (numeric) the life-service streams read.",
        "schema": {"type": ["string", "null"], "pattern": "^[0-9]*$"},
    },
    "root_account_id": {
        "label": "来客 root account ID",
        "description": "Optional: the merchant's root (group) account, sent as Rpc-Transit-Life-Account.",
        "schema": {"type": ["string", "null"], "pattern": "^[0-9]*$"},
    },
    "open_id": {
        "label": "Open ID",
        "description": "The authorized Douyin account whose user data (videos, fans, live rooms) is read.",
        "schema": {"type": ["string", "null"]},
    },
    "refresh_token": {
        "label": "Bootstrap refresh token",
        "description": "Optional: a user refresh token to start the chain from; `douyin-oauth exchange` "
        "stores one for you instead.",
        "schema": {"type": ["string", "null"], "format": "password"},
    },
    "scopes": {
        "label": "Scopes",
        "description": "Comma-separated scopes the authorization URL asks the user for.",
        "schema": {"type": ["string", "null"]},
    },
    "redirect_uri": {
        "label": "Redirect URI",
        "description": "The redirect URI registered for the app, used by `douyin-oauth url`.",
        "schema": {"type": ["string", "null"]},
    },
    "qps": {
        "label": "QPS",
        "description": "Requests per second for this client_key (the life-service APIs allow 20).",
        "schema": {"type": ["number", "null"], "minimum": 0.1, "default": 20},
    },
    "rate_limit_url": SHOP_CONNECTION_FIELDS["rate_limit_url"],
    "timeout": SHOP_CONNECTION_FIELDS["timeout"],
    "deadline": SHOP_CONNECTION_FIELDS["deadline"],
    "retry_budget": SHOP_CONNECTION_FIELDS["retry_budget"],
}

OPEN_UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port"],
    "relabeling": {"login": "Client Key", "password": "Client Secret", "host": "API base URL"},
    "placeholders": {
        "host": "empty = https://open.douyin.com; http://127.0.0.1:8000 for douyin-sandbox",
        "login": "client_key",
        "extra": '{"account_id": "7000000000000000001"}',
    },
}


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "airflow-provider-douyin",
        "name": "Douyin",
        "description": "Douyin shop (Doudian) orders, products, after-sales and settlements, and Douyin "
        "Open Platform (抖音来客) life-service data, synced exactly into SQL databases and object storage.",
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://op.jinritemai.com/docs",
                "tags": ["service"],
            },
            {
                "integration-name": OPEN_INTEGRATION,
                "external-doc-url": "https://developer.open-douyin.com/docs/resource/zh-CN/local-life/develop/OpenAPI/preparation/client_token",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_douyin.hooks.shop"],
            },
            {
                "integration-name": OPEN_INTEGRATION,
                "python-modules": ["airflow_provider_douyin.hooks.open_platform"],
            },
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_douyin.operators.tokens",
                    "airflow_provider_douyin.operators.reconcile",
                ],
            }
        ],
        "transfers": [
            {
                "source-integration-name": INTEGRATION,
                "target-integration-name": "Common SQL",
                "python-module": "airflow_provider_douyin.transfers.douyin_to_sql",
            },
            {
                "source-integration-name": INTEGRATION,
                "target-integration-name": "Common IO",
                "python-module": "airflow_provider_douyin.transfers.douyin_to_storage",
            },
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_douyin.sensors.shop"],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_douyin.triggers.shop",
                    "airflow_provider_douyin.triggers.push",
                ],
            }
        ],
        "connection-types": [
            {
                "connection-type": "douyin_shop",
                "hook-class-name": "airflow_provider_douyin.hooks.shop.DouyinShopHook",
                "hook-name": "Douyin Shop (Doudian)",
                "ui-field-behaviour": SHOP_UI_FIELD_BEHAVIOUR,
                "conn-fields": SHOP_CONNECTION_FIELDS,
            },
            {
                "connection-type": "douyin_open",
                "hook-class-name": "airflow_provider_douyin.hooks.open_platform.DouyinOpenHook",
                "hook-name": "Douyin Open Platform",
                "ui-field-behaviour": OPEN_UI_FIELD_BEHAVIOUR,
                "conn-fields": OPEN_CONNECTION_FIELDS,
            },
        ],
    }
