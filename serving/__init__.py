"""A TensorFlow-Serving-compatible model server (REST + gRPC) over SavedModel, ONNX and TFLite.

Heavy imports (TensorFlow, onnxruntime, LiteRT) happen inside the backends, never here.
"""
