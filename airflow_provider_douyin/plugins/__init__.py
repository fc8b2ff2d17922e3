"""Airflow plugins of the provider: the Douyin page in the Airflow UI."""
