"""Parse a REST body as TF Serving's rapidjson does: NaN/Infinity accepted, trailing data ignored.

orjson handles the common case (fast); bodies it rejects (NaN/Infinity tokens, trailing bytes
after the first value, invalid UTF-8) go through the standard library's decoder, whose errors
are reported with rapidjson's wording and offset.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import TypeVar

import orjson

from serving.errors import InvalidArgument

__all__ = ["load_json_object", "loads_lenient", "depth_guarded"]

T = TypeVar("T")
_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_CHAR = re.compile(r"\(char (\d+)\)")


def _rapidjson_message(msg: str, text: str, pos: int) -> str:
    """Translate a ``json`` error into rapidjson's ``GetParseError_En`` text."""
    if msg.startswith("Expecting value"):
        if pos >= len(text):
            return "The document is empty." if not text.strip() else "Invalid value."
        return "Invalid value."
    if msg.startswith("Expecting property name"):
        return "Missing a name for object member."
    if msg.startswith("Expecting ':'"):
        return "Missing a colon after a name of object member."
    if msg.startswith("Expecting ','"):
        return _missing_comma(text, pos)
    if msg.startswith("Unterminated string"):
        return "Missing a closing quotation mark in string."
    if msg.startswith("Invalid \\uXXXX"):
        return "Incorrect hex digit after \\u escape in string."
    if msg.startswith("Invalid \\escape"):
        return "Invalid escape character in string."
    if msg.startswith("Invalid control character"):
        return "Invalid encoding in string."
    return "Invalid value."


def _missing_comma(text: str, pos: int) -> str:
    """Whether the innermost open container at ``pos`` is an object or an array."""
    stack: list[str] = []
    in_string = escaped = False
    for ch in text[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            stack.append(ch)
        elif ch in "]}" and stack:
            stack.pop()
    if stack and stack[-1] == "{":
        return "Missing a comma or '}' after an object member."
    return "Missing a comma or ']' after an array element."


def loads_lenient(body: bytes) -> object:
    """The first JSON value in ``body`` (NaN/Infinity allowed; anything after it ignored).

    Raises ``InvalidArgument`` with TF Serving's ``JSON Parse error: ...`` messages.
    """
    if not body:
        raise InvalidArgument("JSON Parse error: The document is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        if "unexpected content after document" in str(err):
            found = _CHAR.search(str(err))
            if found:
                try:
                    return orjson.loads(body[: int(found.group(1))])
                except orjson.JSONDecodeError:
                    pass
    text = body.decode("utf-8", "surrogateescape")
    start = _WS.match(text).end()
    try:
        value, _ = _DECODER.raw_decode(text, start)
    except json.JSONDecodeError as err:
        message = _rapidjson_message(err.msg, text, err.pos)
        offset = len(text[: err.pos].encode("utf-8", "surrogateescape"))
        raise InvalidArgument(f"JSON Parse error: {message} at offset: {offset}") from None
    except RecursionError:
        raise InvalidArgument("JSON Parse error: Terminate parsing due to Handler error.") from None
    return value


def depth_guarded(parse: Callable[..., T]) -> Callable[..., T]:
    """Report JSON nested too deeply for Python's recursion as a client error."""

    @functools.wraps(parse)
    def wrapper(*args, **kwargs):
        try:
            return parse(*args, **kwargs)
        except RecursionError:
            raise InvalidArgument("JSON Value nested too deeply to be converted") from None

    return wrapper


def load_json_object(body: bytes) -> dict:
    """Parse a request body that must hold a JSON object at the top level."""
    from serving.codecs.json_text import value_to_string

    doc = loads_lenient(body)
    if not isinstance(doc, dict):
        raise InvalidArgument(f"JSON Value: {value_to_string(doc)} Is not object")
    return doc
