"""``douyin-push``: the standalone push receiver (placeholder until the receiver lands)."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    raise SystemExit("douyin-push: the receiver is not built yet")
