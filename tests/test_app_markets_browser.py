"""The Markets tab in a real headless browser: a run assessed by `lingbridge readiness` shows its markets
coloured ready / close / not ready, with the table of intervals and data needed; a screenshot is kept
(`LINGBRIDGE_SCREENSHOT_DIR`). Skips when chromium or playwright is missing (scripts/test.sh installs them)."""

import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")

from lingbridge.app import backend  # noqa: E402
from lingbridge.app.app import build_demo  # noqa: E402
from lingbridge.readiness import cmd_readiness  # noqa: E402
from test_app import free_port  # noqa: E402
from test_readiness import fake_classification_run  # noqa: E402

pytestmark = pytest.mark.slow
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium chromium-driver)")
    root = tmp_path_factory.mktemp("markets_runs")
    run = fake_classification_run(root / "sentiment", {"de": (400, 380), "fr": (200, 170), "ja": (200, 120)})
    cmd_readiness([str(run), "--metric", "accuracy", "--threshold", "0.85", "--no_fewshot"])
    demo = build_demo(backend.Registry([root]))
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield demo.local_url
    demo.close()


def test_markets_tab_in_the_browser(app_url, tmp_path):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(app_url)
        page.get_by_role("tab", name="Markets").click()
        page.get_by_text("Not ready").first.wait_for(timeout=60_000)
        text = page.content()
        assert "**" not in page.inner_text("body")  # the headline is rendered Markdown
        for cell in ("de", "fr", "ja", "ready", "close", "not ready"):
            assert cell in text
        page.locator("img[src^='data:image']").first.wait_for(timeout=30_000)  # the chart (matplotlib, inlined)
        shot = tmp_path / "markets.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000
        keep = os.environ.get("LINGBRIDGE_SCREENSHOT_DIR")
        if keep:
            shutil.copy(shot, Path(keep) / "app_markets.png")
        browser.close()
