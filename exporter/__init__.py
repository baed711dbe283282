"""Turn a trainer run directory into serving artifacts (SavedModel, TFLite, ONNX) and prove
they agree with the trained model before publishing a version directory."""

from common.extras import require

require("export", "the exporter package")
