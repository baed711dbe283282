"""JSON text exactly as TF Serving's rapidjson writer produces it.

- Decimals (``WriteDecimal``): six significant digits (``%.6g``) when that round-trips, else
  ``max_digits10`` (9 for float32, 17 for float64); ``.0`` appended unless the text has a ``.``
  or an exponent (``3.0``, ``9e+06``); bare ``NaN``/``Infinity``/``-Infinity``.
- ``PrettyWriter``: rapidjson's pretty printer (4-space indent) including its
  ``kFormatSingleLineArray`` mode, which is why TF Serving's responses look like
  ``"predictions": [3.0, 3.5\\n    ]``.
- ``value_to_string``: how TF Serving quotes a JSON value inside an error message.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "format_decimal",
    "format_floats",
    "quote",
    "PrettyWriter",
    "value_to_string",
    "json_type",
]

_ESCAPES = {i: f"\\u{i:04X}" for i in range(0x20)}
_ESCAPES.update({0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"})
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})


def quote(text: str) -> str:
    """A JSON string literal escaped as rapidjson does (control characters, quote, backslash)."""
    return '"' + text.translate(_ESCAPES) + '"'


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "-Infinity" if value < 0 else "Infinity"


def format_decimal(value: float, single: bool = True) -> str:
    """One float as ``WriteDecimal<float>`` (``single``) or ``WriteDecimal<double>`` writes it."""
    if not math.isfinite(value):
        return _non_finite(value)
    if single:
        with np.errstate(over="ignore"):
            value = float(np.float32(value))
        if not math.isfinite(value):
            return _non_finite(value)
    text = format(value, ".6g")
    back = float(text)
    if (np.float32(back) != np.float32(value)) if single else (back != value):
        text = format(value, ".9g" if single else ".17g")
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def format_floats(values: np.ndarray) -> list[str]:
    """Every element of a float32/float64 array (flattened) formatted as ``format_decimal``."""
    flat = np.ascontiguousarray(values).reshape(-1)
    single = flat.dtype != np.float64
    if flat.dtype not in (np.float32, np.float64):
        flat = flat.astype(np.float32)
    pyvals = flat.tolist()
    texts = [format(v, ".6g") for v in pyvals]
    with np.errstate(all="ignore"):
        finite = np.isfinite(flat)
        if single:
            back = np.array(texts, dtype=np.float64).astype(np.float32)
        else:
            back = np.array(texts, dtype=np.float64)
        redo = np.flatnonzero(finite & (back != flat))
    wide = ".9g" if single else ".17g"
    for i in redo.tolist():
        texts[i] = format(pyvals[i], wide)
    if not finite.all():
        for i in np.flatnonzero(~finite).tolist():
            texts[i] = _non_finite(pyvals[i])
        return [t if ("." in t or "e" in t or t[-1] in "yN") else t + ".0" for t in texts]
    return [t if ("." in t or "e" in t) else t + ".0" for t in texts]


class PrettyWriter:
    """A rapidjson ``PrettyWriter`` (4-space indent) writing into a list of string parts."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self._stack: list[list] = []  # [in_array, value_count]
        self.single_line = False

    def _prefix(self) -> None:
        if not self._stack:
            return
        level = self._stack[-1]
        put = self.parts.append
        if level[0]:
            if level[1] > 0:
                put(", " if self.single_line else ",")
            if not self.single_line:
                put("\n" + "    " * len(self._stack))
        else:
            if level[1] > 0:
                put(",\n" if level[1] % 2 == 0 else ": ")
            else:
                put("\n")
            if level[1] % 2 == 0:
                put("    " * len(self._stack))
        level[1] += 1

    def raw(self, text: str) -> None:
        """A scalar value already rendered as JSON text."""
        self._prefix()
        self.parts.append(text)

    def key(self, name: str) -> None:
        """An object member name."""
        self.raw(quote(name))

    def start_object(self) -> None:
        """``{``"""
        self._prefix()
        self._stack.append([False, 0])
        self.parts.append("{")

    def end_object(self) -> None:
        """``}`` (on its own line unless the object is empty)."""
        empty = self._stack.pop()[1] == 0
        if not empty:
            self.parts.append("\n" + "    " * len(self._stack))
        self.parts.append("}")

    def start_array(self) -> None:
        """``[``"""
        self._prefix()
        self._stack.append([True, 0])
        self.parts.append("[")

    def end_array(self) -> None:
        """``]`` (on its own line unless empty or in single-line mode)."""
        empty = self._stack.pop()[1] == 0
        if not empty and not self.single_line:
            self.parts.append("\n" + "    " * len(self._stack))
        self.parts.append("]")

    def text(self) -> str:
        """Everything written so far."""
        return "".join(self.parts)


def _grisu_style(value: float) -> str:
    """A double as rapidjson's ``Writer::Double`` prints it (``1e30``, ``0.001``, ``2.0``)."""
    if not math.isfinite(value):
        return _non_finite(value)
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0")
    k = (int(exp) if exp else 0) - len(frac)
    stripped = digits.rstrip("0")
    k += len(digits) - len(stripped)
    digits = stripped or "0"
    kk = len(digits) + k
    if k >= 0 and kk <= 21:
        body = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        body = digits[:kk] + "." + digits[kk:]
    elif -6 < kk <= 0:
        body = "0." + "0" * (-kk) + digits
    elif len(digits) == 1:
        body = f"{digits}e{kk - 1}"
    else:
        body = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + body


def _write_value(writer: PrettyWriter, value: object) -> None:
    if isinstance(value, dict):
        writer.start_object()
        for k, v in value.items():
            writer.key(k)
            _write_value(writer, v)
        writer.end_object()
    elif isinstance(value, list):
        writer.start_array()
        for v in value:
            _write_value(writer, v)
        writer.end_array()
    elif isinstance(value, str):
        writer.raw(quote(value))
    elif value is True or value is False:
        writer.raw("true" if value else "false")
    elif value is None:
        writer.raw("null")
    elif isinstance(value, float):
        writer.raw(_grisu_style(value))
    else:
        writer.raw(str(value))


def value_to_string(value: object) -> str:
    """A parsed JSON value as TF Serving's ``JsonValueToString`` renders it in error messages."""
    if isinstance(value, float):
        with np.errstate(over="ignore"):
            fits = math.isfinite(value) and float(np.float32(value)) == value
        if not math.isfinite(value) or fits:
            return format_decimal(value, single=True)
        return format_decimal(value, single=False)
    writer = PrettyWriter()
    _write_value(writer, value)
    return writer.text()


def json_type(value: object) -> str:
    """rapidjson's type name for a parsed JSON value (``Number``, ``String``, ``Array``...)."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"
