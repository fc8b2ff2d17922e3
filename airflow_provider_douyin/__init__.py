"""Apache Airflow provider for Douyin shop (Doudian) and Douyin Open Platform data.

The client core (``airflow_provider_douyin.client``) and the sandbox
(``airflow_provider_douyin.sandbox``) import nothing from Airflow, so this module
must not either.
"""

__version__ = "0.1.0"
