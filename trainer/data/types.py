"""The in-memory form of a labelled image set, whatever source it came from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ImageSet"]


@dataclass
class ImageSet:
    """Labelled images: exactly one of ``x`` (uint8 ``(N, H, W, 3)`` in memory) or ``paths``
    (image files decoded lazily by the tf.data pipeline) is set.

    ``y`` is int64 ``(N,)`` in ``range(len(labels))``; ``labels`` are the class names in index
    order. ``skipped`` counts unreadable files left out; ``source`` says where it came from.
    """

    labels: list[str]
    y: np.ndarray
    x: np.ndarray | None = None
    paths: list[str] | None = None
    skipped: int = 0
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if (self.x is None) == (self.paths is None):
            raise ValueError("ImageSet needs exactly one of x or paths")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.labels)

    def take(self, index: np.ndarray) -> ImageSet:
        """A subset by integer index (labels unchanged)."""
        index = np.asarray(index, dtype=np.int64)
        return ImageSet(
            labels=list(self.labels),
            y=self.y[index],
            x=None if self.x is None else self.x[index],
            paths=None if self.paths is None else [self.paths[i] for i in index],
            skipped=self.skipped,
            source=self.source,
            notes=list(self.notes),
        )
