"""MLServer peer for ``bench/peers/run.py``: onnxruntime in a custom ``MLModel``.

Runs in the MLServer venv (``.tools/peers/mlserver``). ``run.py`` writes ``settings.json`` and
``model-settings.json`` (``max_batch_size`` / ``max_batch_time``: MLServer's adaptive
batching) next to a copy of this file and starts ``mlserver start DIR``; the model file comes
from the model settings' ``parameters.uri``.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxModel(MLModel):
    """One onnxruntime session; the first input in, ``scores`` out."""

    async def load(self) -> bool:
        """Open the session."""
        self._session = ort.InferenceSession(self.settings.parameters.uri,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        """Decode the (batched) input, run, encode."""
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32, copy=False)
        y = self._session.run(None, {self._input: x})[0]
        return InferenceResponse(model_name=self.name,
                                 outputs=[NumpyCodec.encode_output("scores", y)])
