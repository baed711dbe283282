#!/usr/bin/env bash
# The main job, end to end: train -> evaluate -> export -> serve -> predict / evaluate through
# the server. Called by `make demo`; the console scripts come from the project's venv.
#
#   DATA     cifar10 (downloads) | a .npz | an image folder | a cifar-10-batches-py dir
#   WEIGHTS  imagenet (downloads) | none | a Keras .h5 without top for MobileNet alpha 0.25
#   OUT      where everything goes (default: demo/)
#   EPOCHS, TRAIN_SIZE, IMAGE_SIZE  optional knobs (defaults keep it to a few minutes on 2 cores)
#   KEEP_SERVING=1  keep the server (and its web page at /ui/) up after the demo, until Ctrl-C
set -euo pipefail

DATA=${DATA:-cifar10}
WEIGHTS=${WEIGHTS:-imagenet}
OUT=${OUT:-demo}
EPOCHS=${EPOCHS:-2}
TRAIN_SIZE=${TRAIN_SIZE:-4000}
IMAGE_SIZE=${IMAGE_SIZE:-96}
MODEL=cifar
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}

step() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

mkdir -p "$OUT"
RUN="$OUT/run"
BASE="$OUT/models"

step "1/5 train: fine-tune MobileNet alpha 0.25 (ImageNet weights), whole network"
run trainer fit --data "$DATA" --backbone mobilenet --alpha 0.25 --weights "$WEIGHTS" \
  --image-size "$IMAGE_SIZE" --train-size "$TRAIN_SIZE" --val-split 0.1 --seed 0 \
  --epochs "$EPOCHS" --freeze none --batchnorm train --optimizer adam --lr 1e-3 \
  --schedule cosine --augment flip --out "$RUN" --overwrite --quiet

step "2/5 evaluate offline on the held-out validation images"
# The run keeps up to 512 validation images it never trained on (samples.npz); use them as
# the demo's held-out set so the offline and the served accuracy are measured on the same images.
python - "$RUN/samples.npz" "$OUT/heldout.npz" "$OUT/images" <<'PY'
import pathlib, sys
import numpy as np
from PIL import Image
with np.load(sys.argv[1]) as s:
    x, y = s["x_val"], s["y_val"]
np.savez(sys.argv[2], x=x, y=y)
folder = pathlib.Path(sys.argv[3])
folder.mkdir(parents=True, exist_ok=True)
for i in range(4):  # a few PNG files for `clients predict`
    Image.fromarray(x[i]).save(folder / f"heldout_{i}.png")
print(f"held-out set: {len(y)} images; sample PNGs in {folder}")
PY
cp "$RUN/labels.txt" "$OUT/labels.txt"
run trainer evaluate "$RUN" --data "$OUT/heldout.npz" --out "$OUT/eval-offline"

step "3/5 export: SavedModel + TFLite + ONNX, parity-checked, published atomically"
run exporter export "$RUN" --model-base-path "$BASE" --name "$MODEL" --quantize none --force \
  --version 1

step "4/5 serve: embedded TF-Serving-compatible server on loopback"
read -r GRPC_PORT REST_PORT < <(python - <<'PY'
import socket
ports = []
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
    ports.append(s.getsockname()[1])
print(*ports)
for s in socks:
    s.close()
PY
)
serving serve --model_name="$MODEL" --model_base_path="$(cd "$BASE/$MODEL" && pwd)" \
  --port="$GRPC_PORT" --rest_api_port="$REST_PORT" > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
trap 'kill -TERM $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT
printf 'server pid %s: REST http://127.0.0.1:%s  gRPC 127.0.0.1:%s (log: %s)\n' \
  "$SERVER_PID" "$REST_PORT" "$GRPC_PORT" "$OUT/server.log"
python - "$REST_PORT" "$MODEL" <<'PY'
import json, sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/v1/models/{sys.argv[2]}"
deadline = time.time() + 120
while True:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            states = [v["state"] for v in json.load(r)["model_version_status"]]
            if "AVAILABLE" in states:
                print("model status:", states)
                break
    except Exception:
        pass
    if time.time() > deadline:
        sys.exit("server did not report the model AVAILABLE within 120 s; see server.log")
    time.sleep(0.5)
PY

printf 'web page: http://127.0.0.1:%s/ui/  (up while the demo runs; KEEP_SERVING=1 keeps it)\n' \
  "$REST_PORT"

step "5/5 predict and evaluate through the server (REST and gRPC)"
run clients predict "$OUT/images" --server "http://127.0.0.1:$REST_PORT" \
  --model "$MODEL" --top-k 3
run clients predict "$OUT/images" --grpc "127.0.0.1:$GRPC_PORT" \
  --model "$MODEL" --top-k 3 --mode server-resize
run clients evaluate --data "$OUT/heldout.npz" --server "http://127.0.0.1:$REST_PORT" \
  --model "$MODEL" --out "$OUT/eval-served.json"

python - "$OUT/eval-offline/eval_metrics.json" "$OUT/eval-served.json" <<'PY'
import json, sys
offline = json.load(open(sys.argv[1]))["top1_accuracy"]
served = json.load(open(sys.argv[2]))["accuracy"]
print(f"\nheld-out top-1: offline (Keras) {offline:.2%}   served (REST) {served:.2%}")
if abs(offline - served) > 0.001:
    sys.exit("served accuracy differs from offline accuracy by more than 0.1 point")
PY
printf '\nDone. Run: %s  models: %s\n' "$RUN" "$BASE/$MODEL"
if [ "${KEEP_SERVING:-0}" = 1 ]; then
  printf '\nServing until Ctrl-C. Web page: http://127.0.0.1:%s/ui/\n' "$REST_PORT"
  wait "$SERVER_PID" || true
fi
