"""Turn a trainer run directory into serving artifacts (SavedModel, TFLite, ONNX) and prove
they agree with the trained model before publishing a version directory."""
