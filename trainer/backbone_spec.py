"""``BackboneSpec`` and the backbone layer name, shared by the registry (``trainer.backbones``)
and the TF Hub adapter (``trainer.hub``) without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass

from trainer import scratch_nets

__all__ = ["BACKBONE_NAME", "BackboneSpec"]

BACKBONE_NAME = "backbone"


@dataclass(frozen=True)
class BackboneSpec:
    """What the trainer needs to know about one backbone."""

    name: str
    builder: str  # a keras.applications constructor name, or a scratch_nets function name
    default_size: int
    min_size: int
    preprocessing: str  # a trainer.preprocessing mode
    imagenet: bool = True  # ImageNet weights exist (for some alpha)
    alphas: tuple[float, ...] = ()  # alphas with ImageNet weights; empty = no --alpha
    flat_features: bool = False  # backbone already ends in a vector (no pooling)

    @property
    def from_keras_applications(self) -> bool:
        """Built by keras.applications (else by trainer.scratch_nets)."""
        return not hasattr(scratch_nets, self.builder)

    def has_imagenet(self, alpha: float) -> bool:
        """ImageNet weights exist for this alpha."""
        return self.imagenet and (not self.alphas or alpha in self.alphas)
