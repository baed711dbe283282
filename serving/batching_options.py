"""``BatchingOptions``: TF Serving's ``BatchingParameters`` as one frozen value.

Its own module so that ``serving.batching`` (the router) and ``serving.batch_queue`` (one
queue) both name it without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BatchingOptions"]


@dataclass(frozen=True)
class BatchingOptions:
    """``BatchingParameters`` (TF Serving's defaults where the file leaves a field unset)."""

    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    max_enqueued_batches: int = 1000000
    num_batch_threads: int = 4
    allowed_batch_sizes: tuple[int, ...] = ()
    thread_pool_name: str = "batch_threads"
    max_execution_batch_size: int = 0  # 0: unset (= max_batch_size); used only when splitting
    enable_large_batch_splitting: bool = False
    pad_variable_length_inputs: bool = False

    @property
    def execution_batch_size(self) -> int:
        """The most rows one model call holds."""
        if self.enable_large_batch_splitting and self.max_execution_batch_size > 0:
            return self.max_execution_batch_size
        return self.max_batch_size

    def padded_size(self, size: int) -> int:
        """The smallest allowed batch size holding ``size`` rows (``size`` if none is set)."""
        for allowed in self.allowed_batch_sizes:
            if allowed >= size:
                return allowed
        return size
