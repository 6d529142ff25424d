"""`lingbridge readiness`: statuses from bootstrap (or Wilson) intervals, the learning-curve estimate, few-shot
finetunes of a tiny model on real PAWS-X, the user errors, the files it writes, and the app's Markets tab."""

import json
import os
import socket
import types

import numpy as np
import pytest

from conftest import SHARED_DATASETS
from lingbridge.errors import UserError
from lingbridge.readiness import (NOT_REACHABLE, _metric_on, bootstrap_interval, cmd_readiness, fit_learning_curve,
                                  item_scores, markets_markdown, wilson_interval)

RECORD = "lingbridge_run.json"


def fake_classification_run(folder, results: dict, items: bool = True):
    """A finetune_classification run directory without a model: per-language accuracy from
    `{lang: (n, correct)}`, and (with `items`) the per-item predictions.jsonl the recipes are to write."""
    from sklearn.metrics import f1_score

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows, table = [], {}
    for lang, (n, correct) in results.items():
        gold = rng.integers(0, 2, n).astype(str)
        pred = gold.copy()
        wrong = rng.choice(n, n - correct, replace=False)
        pred[wrong] = np.where(gold[wrong] == "1", "0", "1")
        rows += [{"id": f"{lang}-{i}", "lang": lang, "text": f"t{i}", "gold": g, "pred": p}
                 for i, (g, p) in enumerate(zip(gold, pred))]
        table[lang] = {"accuracy": correct / n, "f1": float(f1_score(gold, pred, average="macro")), "n": n}
    record = {"job": "finetune_classification", "task": "text-classification", "pipeline_tag": "text-classification",
              "label_names": ["0", "1"], "languages": sorted(results), "metrics": {"per_language": table}}
    (folder / RECORD).write_text(json.dumps(record))
    if items:
        (folder / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def three_markets(tmp_path):
    # de clearly above 0.85, fr right at it, ja far below
    return fake_classification_run(tmp_path / "run", {"de": (400, 380), "fr": (200, 170), "ja": (200, 120)})


def test_statuses_intervals_and_files(three_markets, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in three_markets.iterdir()}
    markets = cmd_readiness([str(three_markets), "--metric", "accuracy", "--threshold", "0.85", "--no_fewshot"])
    m = markets["markets"]
    assert {lang: e["status"] for lang, e in m.items()} == {"de": "ready", "fr": "close", "ja": "not ready"}
    for e in m.values():
        assert e["interval_method"] == "bootstrap" and e["lower"] <= e["value"] <= e["upper"]
    assert 0.03 < m["fr"]["upper"] - m["fr"]["lower"] < 0.15  # n=200 around 0.85: about ±5 points
    assert markets["summary"] == {"ready": ["de"], "close": ["fr"], "not ready": ["ja"]}
    # written atomically beside the run's files; nothing else touched, no temporary file left
    after = {p.name: p.stat().st_mtime_ns for p in three_markets.iterdir()}
    assert set(after) - set(before) == {"markets.json", "markets.png"}
    assert all(after[k] == v for k, v in before.items())
    assert json.loads((three_markets / "markets.json").read_text())["markets"]["de"]["status"] == "ready"
    assert oct((three_markets / "markets.json").stat().st_mode)[-3:] != "600"
    assert "| de | ready |" in capsys.readouterr().out


def test_wilson_interval_without_per_item_predictions(tmp_path):
    run = fake_classification_run(tmp_path / "run", {"de": (100, 50)}, items=False)
    markets = cmd_readiness([str(run), "--threshold", "0.6", "--no_fewshot"])
    e = markets["markets"]["de"]
    assert e["interval_method"] == "wilson"
    assert (e["lower"], e["upper"]) == pytest.approx((0.4038, 0.5962), abs=1e-3)  # the textbook value for 50/100
    assert "Wilson" in markets["interval"] and e["status"] == "close"


def test_threshold_no_market_reaches_is_a_result(three_markets):
    markets = cmd_readiness([str(three_markets), "--threshold", "0.99", "--no_fewshot"])
    assert markets["summary"]["ready"] == []
    assert any("No market reaches" in n for n in markets["notes"])
    assert "No market reaches" in markets_markdown(markets)


def test_user_errors(three_markets, capsys):
    for argv, message in (
        (["--metric", "bleu", "--threshold", "0.3"], "no per-language 'bleu'"),
        (["--threshold", "0.85", "--markets", "de,it"], "market(s) it: no 'accuracy' results"),
        (["--threshold", "85"], "fraction of 1"),
        (["--threshold", "0.8", "--markets", "xx"], "xx"),
    ):
        with pytest.raises(SystemExit) as exc:
            cmd_readiness([str(three_markets), *argv])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and "Traceback" not in err
    assert not (three_markets / "markets.json").exists()  # a mistake writes nothing


def test_bootstrap_macro_f1_matches_sklearn(three_markets):
    from sklearn.metrics import f1_score

    rows = [json.loads(x) for x in (three_markets / "predictions.jsonl").read_text().splitlines()]
    scores = item_scores(rows, "f1")
    full = _metric_on(scores, np.arange(len(rows))[None, :])[0]
    assert full == pytest.approx(f1_score([r["gold"] for r in rows], [r["pred"] for r in rows], average="macro"))
    lo, hi = bootstrap_interval(scores, 500, 0.95, 0)
    assert lo < full < hi
    assert wilson_interval(0.5, 0) == (0.5, 0.5)


def test_learning_curve_estimate_and_flat_curve():
    def curve(k, a=0.9, b=0.4, c=0.5):
        return a - b * (k + 1) ** -c

    points = [(k, curve(k)) for k in (0, 32, 128, 512)]
    out = fit_learning_curve(points, 0.89)  # true answer: (0.4 / 0.01)^2 - 1 = 1599
    assert out["reachable"] and out["extrapolated"] and abs(out["estimate"] - 1599) < 0.2 * 1599
    assert fit_learning_curve(points, 0.86)["verdict"] == "reached with 128 examples (measured)"
    flat = [(0, 0.60), (32, 0.61), (128, 0.61), (512, 0.615)]
    out = fit_learning_curve(flat, 0.85)
    assert out["reachable"] is False and NOT_REACHABLE in out["verdict"]
    assert "not enough local data" in fit_learning_curve([(0, 0.5), (32, 0.55)], 0.85)["verdict"]


# ---- few-shot finetunes of a real tiny model -----------------------------------------------------------------


@pytest.fixture(scope="module")
def pawsx_suite_run(pretrained_run, tmp_path_factory):
    if not (SHARED_DATASETS / "pawsx").is_dir():
        pytest.skip("../shared/datasets absent")
    from lingbridge.suite import cmd_evaluate

    out = tmp_path_factory.mktemp("ready") / "ev"
    cmd_evaluate([str(pretrained_run), "--data_dir", str(SHARED_DATASETS), "--output_dir", str(out), "--tasks", "pawsx",
                  "--languages", "en,de,fr", "--max_train_samples", "48", "--max_eval_samples", "24", "--max_steps", "6",
                  "--batch_size", "8", "--dev_samples", "8"])
    return out


def test_few_shot_curve_and_a_market_without_local_data(pawsx_suite_run, tmp_path):
    # local data for German only: French has test results but nothing to learn from
    pool = [json.loads(x) for x in (pawsx_suite_run / "data" / "pawsx" / "pool.jsonl").read_text().splitlines()]
    local = tmp_path / "local.jsonl"
    local.write_text("".join(json.dumps(r) + "\n" for r in pool if r["lang"] == "de"))
    markets = cmd_readiness([str(pawsx_suite_run), "--task", "pawsx", "--metric", "accuracy", "--threshold", "0.95",
                             "--markets", "de,fr", "--shots", "8,16,32", "--fewshot_epochs", "1",
                             "--fewshot_data", str(local)])
    de, fr = markets["markets"]["de"], markets["markets"]["fr"]
    # bootstrap when the classification recipe saved its per-item predictions.jsonl, Wilson before it did
    assert de["interval_method"] in ("bootstrap", "wilson")
    assert [p["k"] for p in de["data_needed"]["points"]] == [0, 8, 16, 32]
    assert all(0 <= p["value"] <= 1 for p in de["data_needed"]["points"])
    assert de["data_needed"]["pool"] > 32 and de["data_needed"]["test_items"] == 24
    assert de["data_needed"]["verdict"]  # an estimate, "reached ..." or "not reachable with this model"
    assert "no local labelled fr data" in fr["data_needed"]["verdict"]
    assert (pawsx_suite_run / "markets.png").stat().st_size > 1000
    assert not list(pawsx_suite_run.glob(".markets-*"))
    # the few-shot runs went to a temporary folder, not into the run directory
    assert sorted(p.name for p in (pawsx_suite_run / "tasks").iterdir()) == ["pawsx"]


# ---- the app's Markets tab ------------------------------------------------------------------------------------


def test_markets_tab_through_the_server(three_markets):
    pytest.importorskip("gradio")
    import gradio as gr
    from gradio_client import Client

    from lingbridge.app.markets import add_markets_tab, markets_rows, show_markets

    cmd_readiness([str(three_markets), "--threshold", "0.85", "--no_fewshot"])
    registry = types.SimpleNamespace(runs={"sentiment": types.SimpleNamespace(path=three_markets, record={}),
                                           "other": types.SimpleNamespace(path=three_markets.parent, record={})})
    fig, summary, rows = show_markets(registry, "sentiment")
    assert rows[0][:2] == ["de", "ready"] and "**Ready**: de" in summary and fig is not None
    assert markets_rows(json.loads((three_markets / "markets.json").read_text()))[2][1] == "not ready"
    with pytest.raises(UserError, match="no markets.json"):
        show_markets(registry, "other")
    with gr.Blocks() as demo:
        add_markets_tab(registry)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        _, summary, table = client.predict("sentiment", api_name="/markets")
        assert "**Close**: fr" in summary
        assert [r[1] for r in table["data"]] == ["ready", "close", "not ready"]
    finally:
        demo.close()


def test_card_gets_a_markets_section(three_markets):
    from lingbridge.cards import render_card, validate_card

    assert "## Markets" not in render_card(three_markets).content  # no readiness result yet: no section
    cmd_readiness([str(three_markets), "--threshold", "0.85", "--no_fewshot"])
    card = render_card(three_markets)
    assert "## Markets" in card.content and "| fr | close |" in card.content
    assert "![Markets: per-language score, interval and threshold](markets.png)" in card.content
    assert card.content.index("## Markets") < card.content.index("## Limitations")
    assert validate_card(card) == []
