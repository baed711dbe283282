"""The naive baseline: a minimal Flask + TensorFlow predict server, as the tutorials write it.

``python bench/naive_server.py VERSION_DIR PORT_FILE`` loads the exporter's SavedModel and
serves ``POST /v1/models/<name>:predict`` with a TF-Serving-style row body
(``{"instances": [{"image": [[[r, g, b], ...]]}]}`` or bare nested lists, client-resized
float pixels). Per request: Flask's ``request.get_json()`` (stdlib ``json``), ``np.array``,
one call of the ``serving_default`` signature, ``jsonify`` of the outputs. It runs on
Werkzeug's threaded server (what ``app.run()`` starts), binds 127.0.0.1 on a free port and
writes ``{"rest": PORT}`` to PORT_FILE once listening. Nothing here is tuned (that is the
point) except one favour to the baseline: HTTP/1.1 keep-alive, which ``app.run()`` leaves off,
so it pays no TCP connect per request, like the keep-alive server it is compared with.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def create_app(version_dir: Path):  # -> flask.Flask (imported lazily)
    """The Flask app serving ``serving_default`` of the SavedModel in ``version_dir``."""
    import numpy as np
    import tensorflow as tf
    from flask import Flask, jsonify, request

    model = tf.saved_model.load(str(version_dir))
    infer = model.signatures["serving_default"]
    app = Flask("naive_server")

    @app.post("/v1/models/<name>:predict")
    def predict(name: str):  # noqa: ARG001 - one model, any name, as a tutorial would
        data = request.get_json()
        rows = data["instances"]
        if rows and isinstance(rows[0], dict):
            rows = [row["image"] for row in rows]
        x = np.array(rows, dtype=np.float32)
        outputs = infer(image=tf.constant(x))
        predictions = []
        for i in range(len(x)):
            predictions.append({
                "probabilities": outputs["probabilities"][i].numpy().tolist(),
                "top_k_scores": outputs["top_k_scores"][i].numpy().tolist(),
                "top_k_ids": outputs["top_k_ids"][i].numpy().tolist(),
                "top_k_classes": [c.decode() for c in outputs["top_k_classes"][i].numpy()],
            })
        return jsonify({"predictions": predictions})

    return app


def main() -> None:
    """Serve until SIGTERM."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class KeepAliveHandler(WSGIRequestHandler):
        protocol_version = "HTTP/1.1"

    version_dir, port_file = Path(sys.argv[1]), Path(sys.argv[2])
    server = make_server("127.0.0.1", 0, create_app(version_dir), threaded=True,
                         request_handler=KeepAliveHandler)
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"rest": server.server_port}))
    tmp.replace(port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
