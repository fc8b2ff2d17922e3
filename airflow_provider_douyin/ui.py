"""How the provider's tasks look in the Airflow UI; imports nothing, so any module may use it."""

DOUYIN_PINK = "#fe2c55"
