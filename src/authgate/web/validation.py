"""Request-validation errors in words: what pydantic and FastAPI report about a body,
query or header the endpoint cannot use, as one line that names the field
(``username: required``). The one mapping (:mod:`authgate.web.errors`) sends it as
``invalid_request``; an endpoint that validates a body itself raises it the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["describe_validation"]

#: Where FastAPI says a parameter came from; the field's own name is what a reader wants.
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
#: pydantic's error types in words (ctx fills the braces). A type not listed keeps its
#: own message: custom validators (``PydanticCustomError``) already speak in words.
_WORDS = {
    "missing": "required",
    "string_type": "must be a string",
    "string_too_long": "must be at most {max_length} characters",
    "extra_forbidden": "is not a known field",
    "json_invalid": "not valid JSON",
    "dict_type": "must be a JSON object",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "string_pattern_mismatch": "has an invalid format",
}


def _words(err: Mapping[str, Any]) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind == "string_too_short":
        low = ctx.get("min_length", 1)
        return "must not be empty" if low == 1 else f"must be at least {low} characters"
    template = _WORDS.get(kind)
    if template is None:
        return str(err.get("msg", "is not valid"))
    try:
        return template.format(**ctx)
    except (KeyError, IndexError):
        return template


def describe_validation(errors: Sequence[Any]) -> str:
    """pydantic/FastAPI validation errors as one line a person reads: each as
    ``field: what is wrong`` (``email: not a valid email address``, ``username:
    required``); an error about the whole body is ``body: …``."""
    parts: list[str] = []
    for err in list(errors)[:5]:
        if not isinstance(err, Mapping):
            continue
        names = [str(p) for p in err.get("loc", ()) if isinstance(p, str)]
        if names and names[0] in _SOURCES and len(names) > 1:
            names = names[1:]
        parts.append(f"{'.'.join(names) or 'body'}: {_words(err)}")
    return "; ".join(parts) or "invalid request"
