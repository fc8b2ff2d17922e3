"""The transfer operators' former home, kept so existing DAGs import them unchanged.

They live in ``airflow_provider_douyin.transfers`` (Airflow's place for source-to-target operators).
"""

from airflow_provider_douyin.transfers.base import stream_asset
from airflow_provider_douyin.transfers.douyin_to_sql import DouyinToSqlOperator
from airflow_provider_douyin.transfers.douyin_to_storage import DouyinToStorageOperator
from airflow_provider_douyin.ui import DOUYIN_PINK

__all__ = ["DOUYIN_PINK", "DouyinToSqlOperator", "DouyinToStorageOperator", "stream_asset"]
