"""Typed model configuration: ``--model_name``/``--model_base_path`` or a ``models.config`` file.

The file is TF Serving's text-format ``ModelServerConfig`` with a ``model_config_list``.
Differences from TF Serving, on purpose:

- A relative ``base_path`` in a config *file* is resolved against the file's directory (TF
  Serving rejects it). A relative path in a proto without a file (``HandleReloadConfigRequest``)
  is rejected with TF Serving's message. URIs (``gs://``...) are rejected: only local paths.
- Model names containing ``/``, ``\\``, ``..`` or control characters are rejected, so a name
  never reaches the filesystem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serving.errors import InvalidArgument
from serving.platforms import PLATFORMS as PLATFORM_REGISTRY
from serving.platforms import platform_names

__all__ = [
    "PLATFORMS",
    "TFLITE_VARIANTS",
    "tflite_platform",
    "VersionPolicy",
    "ModelConfig",
    "parse_model_config_file",
    "parse_model_config_text",
    "model_configs_from_proto",
    "single_model_config",
    "validate_model_name",
    "validate_config_list",
]

PLATFORMS = platform_names()
# ``model_platform: "tflite:int8"`` serves model_int8.tflite (TF Serving's ModelConfig proto has
# no free per-model field, so the TFLite variant rides on the platform string)
TFLITE_VARIANTS = PLATFORM_REGISTRY["tflite"].variants
_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


@dataclass(frozen=True)
class VersionPolicy:
    """``ServableVersionPolicy``: ``latest`` N (default 1), ``all``, or ``specific`` versions."""

    kind: str = "latest"  # "latest" | "all" | "specific"
    num_versions: int = 1
    versions: tuple[int, ...] = ()

    @classmethod
    def latest(cls, num_versions: int = 1) -> VersionPolicy:
        """The N highest versions (N < 1 counts as 1, as in TF Serving)."""
        return cls("latest", max(int(num_versions), 1))

    @classmethod
    def all(cls) -> VersionPolicy:
        """Every version on disk."""
        return cls("all")

    @classmethod
    def specific(cls, versions: list[int] | tuple[int, ...]) -> VersionPolicy:
        """Exactly the listed versions (missing ones only log a warning)."""
        return cls("specific", versions=tuple(sorted({int(v) for v in versions})))


@dataclass(frozen=True)
class ModelConfig:
    """One served model: where its versions live, which backend, which versions, labels."""

    name: str
    base_path: Path
    platform: str = "tensorflow"
    version_policy: VersionPolicy = field(default_factory=VersionPolicy)
    version_labels: dict[str, int] = field(default_factory=dict)


def validate_model_name(name: str) -> str:
    """Return ``name`` or raise ``InvalidArgument`` if it is empty or path-like."""
    if not name:
        raise InvalidArgument("model name is empty; accepted: a non-empty name without / \\ ..")
    if "/" in name or "\\" in name or ".." in name or any(ord(c) < 32 for c in name):
        raise InvalidArgument(
            f"invalid model name {name!r}: must not contain '/', '\\', '..' or control characters"
        )
    return name


def _check_platform(name: str, platform: str) -> str:
    base, _, variant = platform.partition(":")
    if base not in PLATFORMS or (variant and base != "tflite"):
        raise InvalidArgument(
            f"model {name}: unknown model_platform {platform!r}; accepted: {', '.join(PLATFORMS)}"
            ' (TFLite variants as "tflite:VARIANT")'
        )
    if variant and variant not in TFLITE_VARIANTS:
        raise InvalidArgument(
            f"model {name}: unknown TFLite variant {variant!r} in model_platform {platform!r}; "
            f"accepted: {', '.join(TFLITE_VARIANTS)}"
        )
    return "tflite" if platform == "tflite:float32" else platform


def tflite_platform(platform: str, variant: str) -> str:
    """``--model_platform`` plus ``--tflite_variant`` as one platform string."""
    return platform if platform != "tflite" or variant == "float32" else f"tflite:{variant}"


def _base_path(name: str, raw: str, base_dir: Path | None) -> Path:
    if not raw:
        raise InvalidArgument(f"model {name}: base_path is empty")
    if _URI.match(raw):
        raise InvalidArgument(
            f"model {name}: base_path {raw!r} is a URI; only local directories are supported"
        )
    path = Path(raw).expanduser()
    if not path.is_absolute():
        if base_dir is None:
            raise InvalidArgument(
                f"Expected model {name} to have an absolute path or URI; got base_path()={raw}"
            )
        path = base_dir / path
    return Path(path.resolve(strict=False))


def single_model_config(
    name: str, base_path: str | Path, platform: str = "tensorflow"
) -> ModelConfig:
    """The config ``--model_name``/``--model_base_path``/``--model_platform`` describe.

    A relative base path is resolved against the current directory (as a shell user expects).
    """
    validate_model_name(name)
    _check_platform(name, platform)
    return ModelConfig(
        name=name, base_path=_base_path(name, str(base_path), Path.cwd()), platform=platform
    )


def _policy_from_proto(policy: Any) -> VersionPolicy:
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return VersionPolicy.all()
    if which == "specific":
        return VersionPolicy.specific(list(policy.specific.versions))
    if which == "latest":
        return VersionPolicy.latest(policy.latest.num_versions)
    return VersionPolicy()


def model_configs_from_proto(
    model_config_list: Any, base_dir: Path | None = None
) -> list[ModelConfig]:
    """Convert a ``tensorflow.serving.ModelConfigList`` proto to validated ``ModelConfig`` s.

    Relative base paths are resolved against ``base_dir`` when given, else rejected.
    Raises ``InvalidArgument`` with a one-line message on the first invalid entry.
    """
    configs: list[ModelConfig] = []
    seen: set[str] = set()
    for entry in model_config_list.config:
        name = validate_model_name(entry.name)
        if name in seen:
            raise InvalidArgument(f"Illegal to list model {name} multiple times in config list")
        seen.add(name)
        if entry.model_type:  # deprecated enum field: 1 = TENSORFLOW, 2 = OTHER
            raise InvalidArgument(
                f"model {name}: model_type is deprecated; use model_platform (accepted: "
                f"{', '.join(PLATFORMS)})"
            )
        platform = _check_platform(name, entry.model_platform or "tensorflow")
        configs.append(
            ModelConfig(
                name=name,
                base_path=_base_path(name, entry.base_path, base_dir),
                platform=platform,
                version_policy=_policy_from_proto(entry.model_version_policy),
                version_labels={str(k): int(v) for k, v in entry.version_labels.items()},
            )
        )
    return configs


def parse_model_config_text(text: str, base_dir: Path | None = None) -> list[ModelConfig]:
    """Parse a text-format ``ModelServerConfig``; only ``model_config_list`` is supported."""
    from google.protobuf import text_format

    from common import wire

    proto = wire.ModelServerConfig()
    try:
        text_format.Parse(text, proto)
    except text_format.ParseError as exc:
        raise InvalidArgument(
            f"Error parsing text-format tensorflow.serving.ModelServerConfig: {exc}"
        ) from None
    if proto.WhichOneof("config") != "model_config_list":
        raise InvalidArgument(
            "ServerModelConfig type not supported; only model_config_list is supported"
        )
    return model_configs_from_proto(proto.model_config_list, base_dir)


def parse_model_config_file(path: str | Path) -> list[ModelConfig]:
    """Read ``--model_config_file``; relative base paths resolve against its directory."""
    config_path = Path(path)
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidArgument(f"cannot read model config file {config_path}: {exc}") from None
    return parse_model_config_text(text, config_path.resolve().parent)


def validate_config_list(configs: list[ModelConfig]) -> list[ModelConfig]:
    """Check names (valid, unique) of an already-built config list; return it as a list."""
    seen: set[str] = set()
    for config in configs:
        validate_model_name(config.name)
        if config.name in seen:
            raise InvalidArgument(
                f"Illegal to list model {config.name} multiple times in config list"
            )
        seen.add(config.name)
    return list(configs)
