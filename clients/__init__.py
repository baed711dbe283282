"""Thin REST and gRPC clients for the TensorFlow Serving wire API (no TensorFlow import for
REST), plus `clients predict`, `clients evaluate` and the `clients bench` latency tester."""
