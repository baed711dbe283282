"""Numpy-only wire codecs shared by the server and the clients (no TensorFlow import)."""
