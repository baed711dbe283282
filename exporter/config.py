"""Typed settings of an export: what to build, where, and how strict the parity check is."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

FAMILIES = ("savedmodel", "tflite", "onnx")
QUANTIZATIONS = ("float16", "dynamic", "int8")
DEFAULT_OPSET = 17
# A model name becomes one directory under the model base path (and a URL path segment in
# TF Serving's REST API): no separators, no "..", nothing hidden.
MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Thresholds:
    """Minimum top-1 agreement with the Keras model, per numeric precision."""

    float32: float = 0.999
    float16: float = 0.995
    dynamic: float = 0.97
    int8: float = 0.97

    def for_precision(self, precision: str) -> float:
        """The threshold for ``precision`` (``float32``, ``float16``, ``dynamic``, ``int8``)."""
        return float(getattr(self, precision))


@dataclass(frozen=True)
class VerifySettings:
    """How the parity and speed report is measured."""

    limit: int = 256
    latency_repeats: int = 5
    latency_batches: tuple[int, ...] = (1, 32)
    thresholds: Thresholds = field(default_factory=Thresholds)


@dataclass(frozen=True)
class ExportConfig:
    """Everything ``exporter export`` needs; the CLI fills it from its options."""

    run_dir: Path
    model_base_path: Path
    name: str
    version: int | None = None
    families: tuple[str, ...] = FAMILIES
    quantize: tuple[str, ...] | None = None
    calibration_data: Path | None = None
    calibration_limit: int = 256
    int8_float_ops: tuple[str, ...] = ()  # selective quantization: op types kept float
    int8_bias_correction: bool = True  # round int8 weights in Keras, correct the mean error
    int8_finetune: bool = True  # distil the float model's answers under int8 activations
    int8_float_stem: int | None = None  # first quantized ops kept float (None: INT8_FLOAT_STEM)
    top_k: int | None = None
    force: bool = False
    opset: int = DEFAULT_OPSET
    warmup_requests: int = 8
    verify: VerifySettings = field(default_factory=VerifySettings)
    trust_model: bool = False  # load model.keras with safe_mode=False (runs its code)

    def __post_init__(self) -> None:
        if not MODEL_NAME.fullmatch(self.name) or ".." in self.name:
            raise ValueError(
                f"bad model name {self.name!r}; accepted: letters, digits, '_', '.', '-' "
                "(no path separators, no '..', not starting with '.' or '-')"
            )
        if self.int8_float_ops and "int8" not in (self.quantize or ()):
            raise ValueError("--int8-float-ops needs int8 in --quantize (it only shapes that file)")
        if not self.int8_bias_correction and "int8" not in (self.quantize or ()):
            raise ValueError("--no-int8-bias-correction needs int8 in --quantize (it only "
                             "shapes that file)")
        if self.int8_float_stem is not None:
            if "int8" not in (self.quantize or ()):
                raise ValueError("--int8-float-stem needs int8 in --quantize (it only shapes "
                                 "that file)")
            if self.int8_float_stem < 0:
                raise ValueError(f"bad --int8-float-stem {self.int8_float_stem}; accepted: 0 "
                                 "(every op int8) or a positive number of ops")
        if not self.int8_finetune and "int8" not in (self.quantize or ()):
            raise ValueError("--no-int8-finetune needs int8 in --quantize (it only shapes "
                             "that file)")
        if self.version is not None and self.version < 0:
            raise ValueError(f"bad version {self.version}; accepted: an integer >= 0")

    def tflite_variants(self) -> tuple[str, ...]:
        """The requested TFLite quantizations; none unless asked for (``--quantize``).

        Quantized variants are opt-in: each must pass its own agreement threshold, and a
        small model such as MobileNet alpha 0.25 loses too much top-1 agreement under
        dynamic-range / int8 quantization to pass by default (see BENCHMARKS.md)."""
        return self.quantize if self.quantize is not None else ()


def parse_list(text: str | None, accepted: tuple[str, ...], what: str) -> tuple[str, ...]:
    """Split a comma-separated option into accepted names (``none`` or empty means none).

    Raises ``ValueError`` naming the unknown entries and the accepted ones.
    """
    if text is None:
        return accepted
    items = [item.strip().lower() for item in text.split(",") if item.strip()]
    if items in ([], ["none"]):
        return ()
    unknown = [item for item in items if item not in accepted]
    if unknown:
        raise ValueError(
            f"unknown {what} {', '.join(repr(u) for u in unknown)}; accepted: {', '.join(accepted)}"
        )
    return tuple(dict.fromkeys(items))


def parse_thresholds(text: str | None) -> Thresholds:
    """``"int8=0.95,float16=0.99"`` -> Thresholds with those overrides (fractions 0..1)."""
    if not text:
        return Thresholds()
    values: dict[str, float] = {}
    accepted = tuple(Thresholds.__dataclass_fields__)
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in accepted:
            raise ValueError(f"bad threshold {item!r}; use NAME=FRACTION with NAME in {accepted}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"threshold {key} must be a number in 0..1, got {value!r}") from None
        if not 0.0 <= number <= 1.0:
            raise ValueError(f"threshold {key} must be a fraction in 0..1, got {number}")
        values[key] = number
    return Thresholds(**values)


def parse_op_names(text: str | None) -> tuple[str, ...]:
    """``--int8-float-ops``: comma-separated TFLite builtin op names (``DEPTHWISE_CONV_2D``)."""
    names = tuple(part.strip() for part in (text or "").split(",") if part.strip())
    for name in names:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise ValueError(
                f"bad op name {name!r} in --int8-float-ops; accepted: TFLite builtin op names "
                "such as DEPTHWISE_CONV_2D, CONV_2D, FULLY_CONNECTED"
            )
    return names
