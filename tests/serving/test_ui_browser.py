"""The /ui/ page in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

A server with tiny exported SavedModels: ``tiny`` (serve_bytes, model card), ``xss`` (labels
that are HTML), ``nobytes`` (no serve_bytes: the page resizes) and ``empty`` (no versions).
The page's answers are compared with ``clients predict`` on the same files. A screenshot goes
to ``tests/serving/artifacts/`` (git-ignored).

Without a browser the tests skip, except under ``CI=true``, where they fail:
``scripts/install_test_deps.sh`` (run by ``make test``) installs it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.serving.contract_models import png_bytes
from tests.serving.ui_models import REPORT, write_classifier

ARTIFACTS = Path(__file__).parent / "artifacts"
TINY_LABELS = ["cat", "dog", "emu", "fox", "gnu"]
XSS_LABELS = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "a & b <i>",
              '"><svg onload=alert(3)>', "plain"]


def chromium_path() -> str:
    """The system Chromium; skip without one (fail under CI=true, where it must exist)."""
    found = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if found:
        return found
    reason = ("Debian's chromium is not installed (scripts/install_test_deps.sh installs it: "
              "apt-get install chromium)")
    if os.environ.get("CI") == "true":
        pytest.fail(reason + "; CI must run the browser test", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory) -> Iterator[int]:
    """A server with the four models and Prometheus on; yields the REST port."""
    from serving.app import BackgroundServer
    from serving.server_options import parse_flags

    root = tmp_path_factory.mktemp("ui_models")
    write_classifier(root / "tiny", 1, TINY_LABELS, top_k=3, report=REPORT)
    write_classifier(root / "xss", 1, XSS_LABELS, top_k=5)
    write_classifier(root / "nobytes", 1, TINY_LABELS, top_k=3, with_bytes=False)
    (root / "empty").mkdir()
    entries = "".join(
        f'  config {{ name: "{name}" base_path: "{root / name}" model_platform: "tensorflow" }}\n'
        for name in ("tiny", "xss", "nobytes", "empty")
    )
    config = root / "models.config"
    config.write_text("model_config_list {\n" + entries + "}\n")
    monitoring = root / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true, path: "/metrics" }\n')
    options = parse_flags(["--port=0", "--rest_api_port=auto", f"--model_config_file={config}",
                           f"--monitoring_config_file={monitoring}",
                           "--file_system_poll_wait_seconds=0", "--drain_timeout_seconds=2"])
    background = BackgroundServer(options)
    ports = background.start()
    yield ports["rest"]
    background.stop()


@pytest.fixture
def page(browser, ui_server):
    context = browser.new_context(viewport={"width": 1200, "height": 1000})
    tab = context.new_page()
    tab.dialogs, tab.errors = [], []
    tab.on("dialog", lambda d: (tab.dialogs.append(d.message), d.dismiss()))
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    # console errors other than expected 404s (cards of models without a report, favicon)
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error"
           and not m.text.startswith("Failed to load resource") else None)
    tab.goto(f"http://127.0.0.1:{ui_server}/ui/")
    tab.wait_for_selector("#model-select option[value=empty]", state="attached")
    yield tab
    context.close()
    # no script error, no CSP violation, no alert in any test
    assert (tab.errors, tab.dialogs) == ([], [])


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> Path:
    """A 40x30 PNG with a colour gradient (the models resize it to 16x16)."""
    y, x = np.mgrid[0:30, 0:40]
    image = np.stack([x * 6, y * 8, (x + y) * 3], axis=-1).clip(0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("images") / "gradient.png"
    path.write_bytes(png_bytes(image))
    return path


def upload(page, model: str, files) -> str:
    """Pick ``model``, upload ``files`` through input[type=file]; return the final message."""
    page.select_option("#model-select", model)
    page.evaluate("document.getElementById('message').textContent = ''")
    page.set_input_files("input[type=file]", files)
    page.wait_for_function(
        "() => { const t = document.getElementById('message').textContent;"
        " return t && !t.startsWith('Asking'); }", timeout=60_000)
    return page.text_content("#message")


def shown_labels(page) -> list[str]:
    return page.eval_on_selector_all("#predictions li .label", "els => els.map(e => e.textContent)")


def clients_predict(path: Path, port: int, model: str, mode: str) -> list[dict]:
    exe = Path(sys.executable).with_name("clients")
    done = subprocess.run(
        [str(exe), "predict", str(path), "--server", f"http://127.0.0.1:{port}", "--model",
         model, "--top-k", "3", "--mode", mode, "--json"],
        capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)["predictions"][0]["top_k"]


def test_png_top1_matches_clients_predict(page, ui_server, image_file):
    message = upload(page, "tiny", str(image_file))
    assert message == "1 image classified by tiny."
    items = page.locator("#predictions li")
    assert items.count() == 3  # top_k of the model, one li per class in rank order
    expected = clients_predict(image_file, ui_server, "tiny", "encoded")
    assert items.first.text_content().startswith(expected[0]["label"])
    assert shown_labels(page) == [p["label"] for p in expected]
    shown = page.eval_on_selector_all("#predictions li .prob", "els => els.map(e => e.textContent)")
    assert shown == [f"{100 * p['score']:.1f} %" for p in expected]
    assert "round trip · image bytes → serve_bytes" in page.text_content("#predictions")


def test_page_shows_models_card_and_metrics(page, ui_server, image_file):
    upload(page, "tiny", str(image_file))
    page.wait_for_function(  # arrow functions: a string expression would need 'unsafe-eval'
        "() => document.getElementById('metrics').textContent.includes('tiny')")
    models = page.text_content("#models")
    for text in ("tiny", "xss", "nobytes", "empty", "AVAILABLE", "serve_bytes (image_bytes: "
                 "string [-1])", "Model card: backbone tiny-test-net", "parity vs keras on 32 "
                 "images: passed", "93.75 %", "108.4 KiB"):
        assert text in models, text
    assert "/secret/" not in models  # machine paths of the export report are not shown
    metrics = page.locator("#metrics tr", has_text="tiny").first.text_content()
    assert metrics.startswith("tiny") and "ms" in metrics
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui_page.png"), full_page=True)
    assert (ARTIFACTS / "ui_page.png").stat().st_size > 10_000


def test_html_labels_render_as_text(page, ui_server, image_file):
    upload(page, "xss", str(image_file))
    labels = shown_labels(page)
    assert sorted(labels) == sorted(XSS_LABELS)  # top_k = 5: every label, literally
    assert page.locator("#predictions img, #predictions script, #predictions svg").count() == 0
    page.wait_for_timeout(500)  # an injected onerror/onload would have fired by now
    assert page.dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui_xss_labels.png"), full_page=True)


def test_csp_blocks_html_sinks_in_the_page(page):
    # Trusted Types from the Content-Security-Policy: a string can never become HTML here.
    error = page.evaluate(
        "() => { try { document.body.innerHTML = '<b>x</b>'; return 'assigned'; }"
        " catch (e) { return e.name; } }")
    assert error == "TypeError"
    assert [e for e in page.errors if "TrustedHTML" in e]  # Chromium reports the violation
    page.errors.clear()  # the one expected error


def test_non_image_upload_says_what_is_accepted(page):
    text_file = {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not an image\n"}
    message = upload(page, "tiny", [text_file])
    assert message == "notes.txt is not a PNG or JPEG image (accepted: PNG, JPEG)"
    assert page.locator("#predictions li").count() == 0
    assert "notes.txt is not a PNG" in page.text_content("#predictions .error")


def test_broken_png_shows_the_server_error(page):
    broken = {"name": "broken.png", "mimeType": "image/png",
              "buffer": png_bytes(np.zeros((8, 8, 3), np.uint8))[:40]}
    message = upload(page, "tiny", [broken])
    assert message.startswith("broken.png: the server answered 400: ")


def test_unavailable_model_is_reported(page):
    png = {"name": "a.png", "mimeType": "image/png",
           "buffer": png_bytes(np.zeros((8, 8, 3), np.uint8))}
    message = upload(page, "empty", [png])
    assert message.startswith("Model empty is unavailable: ")
    assert "Servable not found" in message or "Could not find" in message


def test_model_without_serve_bytes_resizes_in_the_page(page, ui_server, image_file):
    upload(page, "nobytes", str(image_file))
    expected = clients_predict(image_file, ui_server, "nobytes", "client-resize")
    assert page.locator("#predictions li").first.text_content().startswith(expected[0]["label"])
    assert shown_labels(page) == [p["label"] for p in expected]
    shown = page.eval_on_selector_all("#predictions li .prob", "els => els.map(e => e.textContent)")
    assert shown == [f"{100 * p['score']:.1f} %" for p in expected]
    assert "resized here to 16×16 → serving_default" in page.text_content("#predictions")


def test_several_files_in_one_drop(page, image_file, tmp_path):
    second = tmp_path / "dark.jpg"
    second.write_bytes(png_bytes(np.full((50, 20, 3), 30, np.uint8), fmt="JPEG"))
    message = upload(page, "tiny", [str(image_file), str(second)])
    assert message == "2 images classified by tiny."
    assert page.locator("#predictions .result").count() == 2
    assert page.locator("#predictions li").count() == 6


def test_dropped_file_is_classified(page, image_file):
    page.select_option("#model-select", "tiny")
    transfer = page.evaluate_handle(
        """(b64) => { const dt = new DataTransfer();
           const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
           dt.items.add(new File([bytes], "dropped.png", {type: "image/png"})); return dt; }""",
        base64.b64encode(image_file.read_bytes()).decode())
    page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
    page.wait_for_function(
        "() => document.getElementById('message').textContent.endsWith('tiny.')")
    assert page.text_content("#predictions h3") == "dropped.png"
    assert page.locator("#predictions li").count() == 3
