"""One redaction for every exception message and log line of the provider.

Two layers, because either alone misses leaks: the *registry* masks the exact secret values this
process holds (app_secret, access and refresh tokens), wherever and however they appear in the text;
the *patterns* mask the value after a secret's parameter name (``access_token=…``, ``"sign": "…"``,
``refresh_token%3D…``) for values the process never held itself, such as a per-request sign or the
token of another worker that a gateway echoes back.
"""

from __future__ import annotations

import logging
import re
import threading
from urllib.parse import quote

MASK = "***"

MIN_SECRET_LENGTH = 8
"""Shorter values are never registered: masking "self" or "10" would garble every message."""

_SECRET_KEYS = ("access_token", "access-token", "refresh_token", "app_secret", "client_secret", "sign")
_KEYED_VALUE = re.compile(
    r"(?:(?<![A-Za-z0-9_])|(?<=%[0-9A-Fa-f]{2}))(?P<key>" + "|".join(_SECRET_KEYS) + r")"
    r"(?P<separator>\\?[\"']?\s*(?:=|:|%3[Dd])\s*\\?[\"']?)"
    r"(?P<value>[^\s\"'&,;)}\]<>\\]+)"
)
"""``key=value`` (query and form text), ``"key": "value"`` (JSON, also escaped inside a JSON string),
``'key': 'value'`` (Python reprs) and ``key%3Dvalue`` (a URL-encoded URL inside another one)."""

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def register_secret(value: object) -> None:
    """Mask ``value`` (and its URL-encoded form) in every later redaction; short values are ignored."""
    global _secrets
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH or value in _secrets:
        return
    with _lock:
        forms = {value, quote(value, safe="")} - set(_secrets)
        if forms:
            # Longest first, so a secret that contains another is masked whole.
            _secrets = tuple(sorted({*_secrets, *forms}, key=len, reverse=True))


def is_registered(value: str) -> bool:
    return value in _secrets


def redact(text: str) -> str:
    """``text`` with every registered secret and every secret-named parameter value masked."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return _KEYED_VALUE.sub(lambda m: f"{m['key']}{m['separator']}{MASK}", text)


class RedactingFilter(logging.Filter):
    """Redacts a record's final message and its exception text before any handler sees them.

    The message is formatted here and frozen (``args`` cleared), so a secret passed as an argument is
    masked too. A traceback whose text needs masking replaces ``exc_info`` with the masked ``exc_text``;
    a clean traceback keeps ``exc_info`` for handlers that render it themselves.
    """

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message or record.args:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = record.exc_text or self._formatter.formatException(record.exc_info)
            masked_text = redact(text)
            if masked_text != text:
                record.exc_info, record.exc_text = None, masked_text
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactingFilter()


def install_filter(logger: logging.Logger) -> logging.Logger:
    """Attach the redacting filter to ``logger`` once; logger filters see only its own records."""
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` whose records are always redacted."""
    return install_filter(logging.getLogger(name))
