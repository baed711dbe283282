// The /ui/ page: model list, status, signatures and model cards; image predictions through
// the ordinary :predict endpoint; live request counts from the Prometheus page.
// Everything that comes from a model or the server is shown with textContent (never as
// HTML); the Content-Security-Policy's Trusted Types make HTML string sinks throw anyway.
"use strict";

(() => {
  const REFRESH_MS = 5000;
  const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  const JPEG = [0xff, 0xd8, 0xff];
  const byId = (id) => document.getElementById(id);
  const ui = {
    serverState: byId("server-state"),
    models: byId("models"),
    metrics: byId("metrics"),
    modelSelect: byId("model-select"),
    versionSelect: byId("version-select"),
    topK: byId("top-k"),
    fileInput: byId("file-input"),
    dropZone: byId("drop-zone"),
    message: byId("message"),
    predictions: byId("predictions"),
  };
  const state = {
    names: [],
    prometheus: null,
    status: new Map(), // model -> [{version, state, error}]
    details: new Map(), // "model/version" -> {signatures, card}
    rendered: "",
    busy: false,
  };

  // -- small DOM helpers (text only) -----------------------------------------------------
  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function setMessage(text, isError) {
    ui.message.textContent = text;
    ui.message.className = isError ? "error" : "";
  }

  function modelPath(name, version) {
    const base = "/v1/models/" + encodeURIComponent(name);
    return version ? base + "/versions/" + encodeURIComponent(version) : base;
  }

  async function fetchJson(url, options) {
    let response;
    try {
      response = await fetch(url, { cache: "no-store", credentials: "same-origin", ...options });
    } catch (err) {
      return { ok: false, status: 0, body: null, error: "the server cannot be reached" };
    }
    let body = null;
    try {
      body = await response.json();
    } catch (err) {
      body = null;
    }
    const error = body && typeof body.error === "string" ? body.error : "HTTP " + response.status;
    return { ok: response.ok, status: response.status, body, error };
  }

  // -- models: status, signatures, cards -------------------------------------------------
  function describeShape(info) {
    const shape = info && info.tensor_shape;
    if (!shape || shape.unknown_rank) return "?";
    return "[" + (shape.dim || []).map((d) => String(d.size)).join(", ") + "]";
  }

  function signaturesOf(metadata) {
    const outer = metadata && metadata.metadata && metadata.metadata.signature_def;
    const defs = (outer && outer.signature_def) || {};
    // "__saved_model_init_op" and friends are TensorFlow's internals, not callable signatures
    return Object.keys(defs).filter((name) => !name.startsWith("__")).sort().map((name) => ({
      name,
      inputs: Object.entries(defs[name].inputs || {}).map(([key, info]) => ({
        key, dtype: String(info.dtype || "?").replace(/^DT_/, "").toLowerCase(),
        shape: describeShape(info), dims: ((info.tensor_shape || {}).dim || []).map(
          (d) => Number(d.size)),
      })),
      outputs: Object.keys(defs[name].outputs || {}).sort(),
    }));
  }

  async function loadDetails(name, version) {
    const key = name + "/" + version;
    if (state.details.has(key)) return;
    const [meta, card] = await Promise.all([
      fetchJson(modelPath(name, version) + "/metadata"),
      fetchJson("/ui/api/card/" + encodeURIComponent(name) + "/" + encodeURIComponent(version)),
    ]);
    if (!meta.ok) return; // retried on the next refresh
    state.details.set(key, { signatures: signaturesOf(meta.body), card: card.ok ? card.body : null });
  }

  async function refreshModels() {
    const server = await fetchJson("/ui/api/server");
    if (!server.ok) {
      ui.serverState.textContent = "Server unreachable: " + server.error;
      ui.serverState.className = "error";
      return;
    }
    state.names = Array.isArray(server.body.models) ? server.body.models.map(String) : [];
    state.prometheus = typeof server.body.prometheus_path === "string"
      ? server.body.prometheus_path : null;
    await Promise.all(state.names.map(async (name) => {
      const reply = await fetchJson(modelPath(name));
      const rows = reply.ok && Array.isArray(reply.body.model_version_status)
        ? reply.body.model_version_status.map((row) => ({
          version: String(row.version),
          state: String(row.state),
          error: row.status && row.status.error_message ? String(row.status.error_message) : "",
        }))
        : [{ version: "–", state: "UNKNOWN", error: reply.error }];
      state.status.set(name, rows);
      await Promise.all(rows.filter((r) => r.state === "AVAILABLE")
        .map((r) => loadDetails(name, r.version)));
    }));
    const count = state.names.length;
    ui.serverState.textContent = count + (count === 1 ? " model" : " models") +
      " · updated " + new Date().toLocaleTimeString();
    ui.serverState.className = "muted";
    renderModels();
    renderSelects();
  }

  function percent(value) {
    return typeof value === "number" ? (100 * value).toFixed(2) + " %" : "–";
  }

  function renderCard(card) {
    const box = el("div", "card");
    const facts = [];
    if (card.backbone) facts.push("backbone " + card.backbone);
    if (card.image_size) facts.push(card.image_size + " px");
    if (card.num_classes) facts.push(card.num_classes + " classes");
    if (card.created_utc) facts.push("exported " + card.created_utc);
    const parity = card.parity || {};
    if (parity.reference) {
      facts.push("parity vs " + parity.reference + " on " + parity.n_samples + " images: " +
        (parity.passed ? "passed" : "FAILED"));
    }
    if (typeof parity.reference_accuracy === "number") {
      facts.push("reference accuracy " + percent(parity.reference_accuracy));
    }
    box.append(el("p", "small", "Model card: " + (facts.join(" · ") || "export report")));
    if (!card.formats || !card.formats.length) return box;
    const table = el("table");
    const head = el("tr");
    ["format", "precision", "size", "top-1 agreement", "accuracy", "latency b1 / b32",
      "parity"].forEach((h) => head.append(el("th", null, h)));
    table.append(head);
    for (const f of card.formats) {
      const row = el("tr");
      const latency = f.latency_ms || {};
      const ms = (k) => (typeof latency[k] === "number" ? latency[k].toFixed(2) + " ms" : "–");
      [f.format, f.precision || "–",
        typeof f.size_bytes === "number" ? (f.size_bytes / 1024).toFixed(1) + " KiB" : "–",
        percent(f.top1_agreement), percent(f.accuracy), ms("1") + " / " + ms("32"),
        f.passed === undefined ? "–" : (f.passed ? "passed" : "FAILED"),
      ].forEach((v) => row.append(el("td", null, v)));
      table.append(row);
    }
    box.append(table);
    return box;
  }

  function renderModels() {
    const snapshot = JSON.stringify([state.names, [...state.status], [...state.details.keys()]]);
    if (snapshot === state.rendered) return;
    state.rendered = snapshot;
    const frag = document.createDocumentFragment();
    if (!state.names.length) frag.append(el("p", "muted", "No models are configured."));
    for (const name of state.names) {
      const box = el("article", "model");
      box.append(el("h3", null, name));
      const table = el("table");
      const head = el("tr");
      ["version", "state", "message"].forEach((h) => head.append(el("th", null, h)));
      table.append(head);
      const rows = state.status.get(name) || [];
      for (const r of rows) {
        const tr = el("tr");
        tr.append(el("td", null, r.version), el("td", "state-" + r.state, r.state),
          el("td", r.error ? "error" : null, r.error));
        table.append(tr);
      }
      box.append(table);
      for (const r of rows) {
        const details = state.details.get(name + "/" + r.version);
        if (!details || r.state !== "AVAILABLE") continue;
        box.append(el("p", "small", "Version " + r.version + " signatures:"));
        const list = el("ul", "signatures");
        for (const sig of details.signatures) {
          const inputs = sig.inputs.map((i) => i.key + ": " + i.dtype + " " + i.shape).join(", ");
          list.append(el("li", null, sig.name + " (" + inputs + ") → " + sig.outputs.join(", ")));
        }
        box.append(list);
        if (details.card) box.append(renderCard(details.card));
      }
      frag.append(box);
    }
    ui.models.replaceChildren(frag);
  }

  function setOptions(select, values, labels) {
    const current = select.value;
    const same = select.options.length === values.length &&
      values.every((v, i) => select.options[i].value === v);
    if (same) return;
    select.replaceChildren(...values.map((v, i) => {
      const option = el("option", null, labels ? labels[i] : v);
      option.value = v;
      return option;
    }));
    if (values.includes(current)) select.value = current;
  }

  function renderSelects() {
    const first = ui.modelSelect.options.length === 0;
    setOptions(ui.modelSelect, state.names);
    if (first) { // start on a model that can answer
      const ready = state.names.find((n) => (state.status.get(n) || []).some(
        (r) => r.state === "AVAILABLE"));
      if (ready) ui.modelSelect.value = ready;
    }
    const rows = state.status.get(ui.modelSelect.value) || [];
    const versions = rows.filter((r) => r.state === "AVAILABLE").map((r) => r.version);
    setOptions(ui.versionSelect, ["", ...versions], ["latest", ...versions]);
  }

  // -- metrics ---------------------------------------------------------------------------
  function parseLabels(text) {
    const labels = {};
    const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
    let m;
    while ((m = re.exec(text)) !== null) labels[m[1]] = m[2].replace(/\\(.)/g, "$1");
    return labels;
  }

  async function refreshMetrics() {
    if (!state.prometheus) return;
    let text;
    try {
      const response = await fetch(state.prometheus, { cache: "no-store" });
      if (!response.ok) return;
      text = await response.text();
    } catch (err) {
      return;
    }
    const perModel = new Map();
    const get = (name) => {
      if (!perModel.has(name)) perModel.set(name, { ok: 0, failed: 0, sum: 0, count: 0 });
      return perModel.get(name);
    };
    for (const line of text.split("\n")) {
      const m = /^:tensorflow:serving:(request_count|request_latency_sum|request_latency_count)\{([^}]*)\} (\S+)$/.exec(line);
      if (!m) continue;
      const labels = parseLabels(m[2]);
      const value = Number(m[3]);
      const entry = get(labels.model_name || "?");
      if (m[1] === "request_count") {
        if (labels.status === "OK") entry.ok += value; else entry.failed += value;
      } else if (m[1] === "request_latency_sum") {
        entry.sum += value;
      } else {
        entry.count += value;
      }
    }
    const table = el("table");
    const head = el("tr");
    ["model", "requests OK", "failed", "mean latency (server)"].forEach(
      (h) => head.append(el("th", null, h)));
    table.append(head);
    for (const [name, e] of [...perModel].sort()) {
      const tr = el("tr");
      const mean = e.count ? (e.sum / e.count / 1000).toFixed(2) + " ms" : "–";
      [name, e.ok, e.failed, mean].forEach((v) => tr.append(el("td", null, v)));
      table.append(tr);
    }
    const note = el("p", "muted small", "From " + state.prometheus + " · " +
      new Date().toLocaleTimeString());
    ui.metrics.replaceChildren(perModel.size ? table : el("p", "muted", "No requests yet."), note);
  }

  // -- predictions -----------------------------------------------------------------------
  function startsWith(bytes, prefix) {
    return prefix.every((b, i) => bytes[i] === b);
  }

  async function imageKind(file) {
    const head = new Uint8Array(await file.slice(0, 8).arrayBuffer());
    if (startsWith(head, PNG)) return "PNG";
    if (startsWith(head, JPEG)) return "JPEG";
    return null;
  }

  function readBase64(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).slice(String(reader.result).indexOf(",") + 1));
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
  }

  // How to send an image to this signature map: encoded bytes (serve_bytes) or pixels resized
  // here to the serving_default input (a model exported without serve_bytes).
  function choosePlan(signatures) {
    const byName = new Map(signatures.map((s) => [s.name, s]));
    const bytes = byName.get("serve_bytes");
    if (bytes && bytes.inputs.length === 1 && bytes.inputs[0].dtype === "string") {
      return { kind: "bytes", signature: "serve_bytes", input: bytes.inputs[0].key };
    }
    const candidates = ["serving_default", ...byName.keys()];
    for (const name of candidates) {
      const sig = byName.get(name);
      if (!sig || sig.inputs.length !== 1) continue;
      const input = sig.inputs[0];
      const [, h, w, c] = input.dims;
      if (input.dims.length === 4 && h > 0 && w > 0 && c === 3 &&
          (input.dtype === "float" || input.dtype === "uint8")) {
        return { kind: "pixels", signature: name, input: input.key, height: h, width: w,
          dtype: input.dtype };
      }
    }
    return null;
  }

  // The contract resize (tf.image.resize bilinear, half-pixel centres, no antialias) in
  // float32 arithmetic, as serving/codecs/resize.py does it.
  const f32 = Math.fround;
  function axisWeights(inSize, outSize) {
    const scale = f32(inSize / outSize);
    const lower = new Int32Array(outSize), upper = new Int32Array(outSize);
    const lerp = new Float32Array(outSize);
    for (let i = 0; i < outSize; i++) {
      const src = f32(f32(f32(i + 0.5) * scale) - 0.5);
      const floor = Math.floor(src);
      lower[i] = Math.max(floor, 0);
      upper[i] = Math.min(Math.ceil(src), inSize - 1);
      lerp[i] = f32(src - floor);
    }
    return { lower, upper, lerp };
  }

  function resizeRgb(rgba, inW, inH, outW, outH) {
    const out = new Float32Array(outW * outH * 3);
    if (inW === outW && inH === outH) {
      for (let p = 0; p < outW * outH; p++) for (let c = 0; c < 3; c++) out[p * 3 + c] = rgba[p * 4 + c];
      return out;
    }
    const ys = axisWeights(inH, outH), xs = axisWeights(inW, outW);
    for (let y = 0; y < outH; y++) {
      const r0 = ys.lower[y] * inW * 4, r1 = ys.upper[y] * inW * 4, yl = ys.lerp[y];
      for (let x = 0; x < outW; x++) {
        const c0 = xs.lower[x] * 4, c1 = xs.upper[x] * 4, xl = xs.lerp[x];
        for (let c = 0; c < 3; c++) {
          const tl = rgba[r0 + c0 + c], tr = rgba[r0 + c1 + c];
          const bl = rgba[r1 + c0 + c], br = rgba[r1 + c1 + c];
          const top = f32(tl + f32(f32(tr - tl) * xl));
          const bottom = f32(bl + f32(f32(br - bl) * xl));
          out[(y * outW + x) * 3 + c] = f32(top + f32(f32(bottom - top) * yl));
        }
      }
    }
    return out;
  }

  async function decodePixels(file) {
    const bitmap = await createImageBitmap(file, {
      colorSpaceConversion: "none", premultiplyAlpha: "none",
    });
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    return { bitmap, data };
  }

  function thumbnail(bitmap) {
    const canvas = document.createElement("canvas");
    const scale = Math.min(1, 128 / Math.max(bitmap.width, bitmap.height));
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return canvas;
  }

  function nested(values, h, w, asInt) {
    const rows = [];
    for (let y = 0; y < h; y++) {
      const row = [];
      for (let x = 0; x < w; x++) {
        const i = (y * w + x) * 3;
        const px = [values[i], values[i + 1], values[i + 2]];
        row.push(asInt ? px.map((v) => Math.min(255, Math.max(0, Math.round(v)))) : px);
      }
      rows.push(row);
    }
    return rows;
  }

  function rankedClasses(prediction, topK) {
    if (prediction && Array.isArray(prediction.top_k_classes) &&
        Array.isArray(prediction.top_k_scores)) {
      return prediction.top_k_classes.slice(0, topK).map((label, i) => ({
        label: typeof label === "string" ? label : JSON.stringify(label),
        score: Number(prediction.top_k_scores[i]),
      }));
    }
    const probs = Array.isArray(prediction) ? prediction
      : prediction && Array.isArray(prediction.probabilities) ? prediction.probabilities : null;
    if (probs && probs.every((p) => typeof p === "number")) {
      return probs.map((score, i) => ({ label: "class " + i, score }))
        .sort((a, b) => b.score - a.score).slice(0, topK);
    }
    return null;
  }

  function renderRanked(card, ranked) {
    const list = el("ol");
    for (const { label, score } of ranked) {
      const li = el("li");
      const bar = el("progress");
      bar.max = 1;
      bar.value = Number.isFinite(score) ? Math.min(1, Math.max(0, score)) : 0;
      li.append(el("span", "label", label), bar,
        el("span", "prob", Number.isFinite(score) ? (100 * score).toFixed(1) + " %" : "?"));
      list.append(li);
    }
    card.append(list);
  }

  async function predictOne(file, target, plan, card) {
    const kind = await imageKind(file);
    if (!kind) {
      throw new Error(file.name + " is not a PNG or JPEG image (accepted: PNG, JPEG)");
    }
    let body, bitmap = null;
    try {
      if (plan.kind === "bytes") {
        const b64 = await readBase64(file);
        bitmap = await createImageBitmap(file).catch(() => null);
        body = { signature_name: plan.signature, instances: [{ [plan.input]: { b64 } }] };
      } else {
        const decoded = await decodePixels(file);
        bitmap = decoded.bitmap;
        const pixels = resizeRgb(decoded.data, bitmap.width, bitmap.height, plan.width, plan.height);
        body = { signature_name: plan.signature,
          instances: [{ [plan.input]: nested(pixels, plan.height, plan.width, plan.dtype === "uint8") }] };
      }
    } catch (err) {
      throw new Error(file.name + ": the " + kind + " file cannot be decoded (" + err.message + ")");
    }
    if (bitmap) card.prepend(thumbnail(bitmap));
    const started = performance.now();
    const reply = await fetchJson(modelPath(target.name, target.version) + ":predict", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const elapsed = performance.now() - started;
    if (!reply.ok) {
      const what = reply.status === 404 || reply.status === 503
        ? "model " + target.name + " is unavailable" : "the server answered " + reply.status;
      throw new Error(file.name + ": " + what + ": " + reply.error);
    }
    const prediction = reply.body && Array.isArray(reply.body.predictions)
      ? reply.body.predictions[0] : null;
    const how = plan.kind === "bytes" ? "image bytes → " + plan.signature
      : "resized here to " + plan.width + "×" + plan.height + " → " + plan.signature;
    card.append(el("p", "muted small", elapsed.toFixed(0) + " ms round trip · " + how));
    const ranked = rankedClasses(prediction, Math.max(1, Number(ui.topK.value) || 5));
    if (ranked) {
      renderRanked(card, ranked);
    } else {
      card.append(el("p", null, "The model's output has no class scores:"),
        el("pre", null, JSON.stringify(prediction).slice(0, 2000)));
    }
  }

  async function handleFiles(fileList) {
    const files = [...fileList];
    if (!files.length) return;
    if (state.busy) {
      setMessage("Still working on the previous images; drop these again when it is done.", true);
      return;
    }
    state.busy = true;
    try {
      await classifyFiles(files);
    } finally {
      state.busy = false;
    }
  }

  async function classifyFiles(files) {
    const name = ui.modelSelect.value;
    if (!name) {
      setMessage("No model is being served; nothing to send the images to.", true);
      return;
    }
    const target = { name, version: ui.versionSelect.value };
    setMessage("Asking " + name + (target.version ? " version " + target.version : "") +
      " about " + files.length + (files.length === 1 ? " file…" : " files…"), false);
    const meta = await fetchJson(modelPath(name, target.version) + "/metadata");
    if (!meta.ok) {
      setMessage("Model " + name + " is unavailable: " + meta.error, true);
      return;
    }
    const plan = choosePlan(signaturesOf(meta.body));
    if (!plan) {
      setMessage("Model " + name + " has neither a serve_bytes signature nor an image input " +
        "[-1, H, W, 3] (float or uint8); this page cannot send it images.", true);
      return;
    }
    ui.predictions.replaceChildren();
    const errors = [];
    for (const file of files) {
      const card = el("article", "result");
      card.append(el("h3", null, file.name));
      ui.predictions.append(card);
      try {
        await predictOne(file, target, plan, card);
      } catch (err) {
        errors.push(err.message);
        card.append(el("p", "error", err.message));
      }
    }
    if (errors.length) {
      setMessage(errors.join(" · "), true);
    } else {
      setMessage(files.length + (files.length === 1 ? " image" : " images") + " classified by " +
        name + ".", false);
    }
    refreshMetrics();
  }

  // -- wiring ----------------------------------------------------------------------------
  ui.fileInput.addEventListener("change", () => {
    handleFiles(ui.fileInput.files).finally(() => { ui.fileInput.value = ""; });
  });
  ui.modelSelect.addEventListener("change", renderSelects);
  ui.dropZone.addEventListener("dragover", (event) => {
    event.preventDefault();
    ui.dropZone.classList.add("over");
  });
  ui.dropZone.addEventListener("dragleave", () => ui.dropZone.classList.remove("over"));
  ui.dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    ui.dropZone.classList.remove("over");
    handleFiles(event.dataTransfer.files);
  });

  async function tick() {
    try {
      await refreshModels();
      await refreshMetrics();
    } finally {
      setTimeout(tick, REFRESH_MS);
    }
  }
  tick();
})();
