"""The app in a real headless browser (Debian's chromium through Playwright): type, click, read the
output, take a screenshot. Skips when chromium or playwright is missing (scripts/test.sh installs them)."""

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")

from conftest import config  # noqa: E402
from lingbridge.app import backend  # noqa: E402
from lingbridge.app.app import build_demo  # noqa: E402
from lingbridge.recipes import finetune_classification  # noqa: E402
from test_app import free_port  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
LABELS = ("negative", "neutral", "positive")


@pytest.fixture(scope="module")
def app_url(pretrained_run, tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium chromium-driver)")
    root = tmp_path_factory.mktemp("browser_runs")
    finetune_classification.main([
        "--config", config("finetune_classification", "sentiment_tiny"), "--model_name_or_path", str(pretrained_run), "--output_dir",
        str(root / "sentiment"), "--max_steps", "4", "--eval_strategy", "no", "--save_strategy", "no",
        "--load_best_model_at_end", "false", "--disable_tqdm", "true"])
    demo = build_demo(backend.Registry([root]))
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield demo.local_url
    demo.close()


def test_classify_in_the_browser(app_url, tmp_path):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app_url)
        page.get_by_role("tab", name="Classify").click()
        box = page.get_by_label("Text", exact=True)
        box.fill("Das Essen war kalt und der Kellner unfreundlich.")
        page.get_by_role("button", name="Classify", exact=True).click()
        page.get_by_text("a training language of this model").wait_for(timeout=60_000)
        assert "German" in page.content()
        label = page.locator("[data-testid='label-output-value']")
        label.wait_for(timeout=30_000)
        assert label.inner_text().strip() in LABELS
        shot = tmp_path / "classify.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        keep = os.environ.get("LINGBRIDGE_SCREENSHOT_DIR")
        if keep:
            shutil.copy(shot, Path(keep) / "app_classify.png")
        browser.close()
