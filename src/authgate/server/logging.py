"""Structured server logs: security events as one JSON object per line.

The service logs events on ``authgate.audit`` with ``extra={"event": ..., ...}``;
:class:`JSONFormatter` writes them with their fields. SECURITY.md #45: a field whose
name suggests a secret (token, password, secret, key) is dropped, never written.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson

__all__ = ["JSONFormatter", "RedactQuery", "log_config"]

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}
_SECRET_WORDS = ("token", "password", "secret", "key", "authorization", "cookie")


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, dict) and depth < 4:
        return {
            str(k): _clean(v, depth + 1)
            for k, v in value.items()
            if not any(w in str(k).lower() for w in _SECRET_WORDS)
        }
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD}
        out.update(_clean(extra))
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
            out["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(out).decode()


class RedactQuery(logging.Filter):
    """Drop query strings from uvicorn's access log: a client that (wrongly) puts a token
    in the URL must not get it written to disk (SECURITY.md #40, #45)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, sep, _ = args[2].partition("?")
            if sep:
                record.args = (*args[:2], path + "?[redacted]", *args[3:])
        return True


def log_config(level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn: its usual access/error logs, and
    authgate's loggers as JSON lines on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {"()": "authgate.server.logging.JSONFormatter"},
            "default": {
                "()": "uvicorn.logging.DefaultFormatter",
                "fmt": "%(levelprefix)s %(message)s",
            },
            "access": {
                "()": "uvicorn.logging.AccessFormatter",
                "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            },
        },
        "filters": {"redact_query": {"()": "authgate.server.logging.RedactQuery"}},
        "handlers": {
            "json": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["redact_query"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "authgate": {"handlers": ["json"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["access"], "level": level.upper(), "propagate": False},
        },
    }
