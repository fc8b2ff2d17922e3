"""``python -m airflow_provider_douyin.sandbox`` runs the CLI."""

from .cli import main

raise SystemExit(main())
