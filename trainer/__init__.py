"""Fine-tune ImageNet backbones (or train small nets from scratch) on image classification data.

`trainer` imports none of `exporter`, `serving` or `clients`; its product is a run directory
(see docs/contracts.md).
"""

from common.extras import require

require("train", "the trainer package")
