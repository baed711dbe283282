"""The one runtime interface every model format implements.

A backend serves one version directory. The core service only ever calls ``load``,
``signature_defs``, ``predict`` and ``unload``; REST and gRPC never see a backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from serving.cpu_threads import RuntimeThreads

__all__ = ["Backend"]


class Backend(ABC):
    """A loaded model version.

    ``predict`` takes and returns numpy arrays keyed by signature *aliases* (``image``,
    ``probabilities``...). String tensors are numpy object arrays of ``bytes``.
    Errors are raised as ``serving.errors.ServingError`` subclasses with TF Serving's
    messages (e.g. an unknown signature is ``FailedPrecondition``).
    """

    platform: ClassVar[str]  # "tensorflow" | "onnx" | "tflite": the model_platform name
    threads: RuntimeThreads = RuntimeThreads()  # set by ``create_backend`` before ``load``

    @abstractmethod
    def load(self, version_dir: Path) -> None:
        """Load the model from a version directory; raise on a corrupt or incomplete one."""

    @abstractmethod
    def signature_defs(self) -> Any:
        """The model's signatures as a ``tensorflow.serving.SignatureDefMap`` proto.

        For SavedModels this is the MetaGraphDef's map unchanged (``__saved_model_init_op``
        included); other formats synthesise the same map the exporter's SavedModel has.
        """

    @abstractmethod
    def predict(
        self,
        signature_name: str,
        inputs: Mapping[str, np.ndarray],
        output_filter: Sequence[str] = (),
    ) -> dict[str, np.ndarray]:
        """Run one signature on a batch; an empty ``output_filter`` returns every output."""

    def unload(self) -> None:  # noqa: B027 - optional hook, default is nothing to free
        """Release the model's resources."""
