"""docs/worked_examples.md is generated from torch and scikit-learn: it must match them, and the values
that circulate wrongly (MSE 10, Adam → 1.8, F1 0.76) must not appear."""

import math

import pytest

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "worked_examples", Path(__file__).resolve().parents[1] / "scripts" / "worked_examples.py")
worked_examples = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worked_examples)


@pytest.fixture(scope="module")
def built():
    return worked_examples.build()


def test_document_matches_the_generator(built):
    text, _ = built
    assert worked_examples.DOC.is_file(), "run python scripts/worked_examples.py"
    assert worked_examples.DOC.read_text(encoding="utf-8") == text, \
        "docs/worked_examples.md drifted: rerun python scripts/worked_examples.py"


def test_losses(built):
    _, v = built
    assert v["mse"]["mse"] == pytest.approx(95.0) and v["mse"]["mse"] != pytest.approx(10.0)
    assert v["bce"]["bce_mean"] == pytest.approx(0.188938, abs=1e-6)
    assert v["bce"]["bce_sum"] == pytest.approx(0.944690, abs=1e-6)
    assert v["bce"]["adversarial_d09"] == pytest.approx(-math.log(0.9), abs=1e-6)


def test_optimiser_steps(built):
    _, v = built
    o = v["optim"]
    assert o["grad"] == pytest.approx(2.0)
    assert o["sgd"] == pytest.approx(1.8, abs=1e-6)
    assert o["adam"] == pytest.approx(1.9, abs=1e-6) and o["adam"] != pytest.approx(1.8, abs=1e-3)
    assert o["rmsprop"] == pytest.approx(2 - 0.2 / math.sqrt(0.4), abs=1e-6)  # 1.683772


def test_classification_metrics(built):
    _, v = built
    m = v["metrics"]
    assert (m["accuracy"], m["precision"], m["recall"]) == pytest.approx((0.65, 100 / 120, 100 / 150))
    assert m["f1"] == pytest.approx(200 / 270) and round(m["f1"], 2) != 0.76


def test_attention_matches_torch(built):
    _, v = built
    a = v["attention"]
    assert a["max_diff_vs_torch"] < 1e-5
    for head in a["weights"]:
        for row in head:
            assert sum(row) == pytest.approx(1.0, abs=1e-6)


def test_document_shows_the_right_values(built):
    text, _ = built
    for shown in ("= **95**", "**1.8**", "**1.9**", "**1.68377**", "**0.7407**", "**0.188938**", "**0.94469**",
                  "**0.105361**", "**0.65**"):
        assert shown in text
    assert "**0.76**" not in text and "= **10**" not in text


def test_check_mode(tmp_path):
    path = tmp_path / "w.md"
    assert worked_examples.main(["--path", str(path)]) == 0
    assert worked_examples.main(["--check", "--path", str(path)]) == 0
    path.write_text(path.read_text().replace("**95**", "**10**"))
    assert worked_examples.main(["--check", "--path", str(path)]) == 1
