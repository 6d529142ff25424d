"""`lingbridge publish` against a local server speaking the Hub's API (tests/fake_hub.py), through
the real huggingface_hub client and HF_ENDPOINT: dry run, push, private branch, dropped connection
and retry, LoRA adapter vs merged, and the token never written anywhere."""

import json
import sys
from pathlib import Path

import pytest

from conftest import config, run_cli
from fake_hub import FakeHub
from lingbridge.recipes import finetune_classification

TOKEN = "hf_lingbridgeTestSecret0123456789"


def _finetune(pretrained_run, out: Path, *extra):
    finetune_classification.main(["--config", config("finetune_classification", "sentiment_tiny"), "--model_name_or_path", str(pretrained_run),
                                  "--output_dir", str(out), "--max_steps", "4", "--eval_strategy", "no",
                                  "--save_strategy", "no", "--load_best_model_at_end", "false", "--disable_tqdm", "true",
                                  *extra])
    return out


@pytest.fixture(scope="module")
def runs(pretrained_run, tmp_path_factory):
    root = tmp_path_factory.mktemp("publish")
    merged = _finetune(pretrained_run, root / "sentiment")
    (merged / "feedback.jsonl").write_text('{"text": "private user input", "label": "negative", "lang": "en"}\n')
    (merged / "markets.json").write_text('{"task": "sentiment", "markets": {}}')  # as `lingbridge readiness` leaves it
    adapter = _finetune(pretrained_run, root / "adapter", "--merge_lora", "false")
    return {"merged": merged, "adapter": adapter}


@pytest.fixture
def hub(tmp_path):
    server = FakeHub(tmp_path / "hub").start()
    yield server
    server.stop()


def publish(hub, *args, token=TOKEN, home=None):
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": token or "",
           "HF_HOME": str(home or Path(hub.root).parent / "hf_home")}
    return run_cli([sys.executable, "-m", "lingbridge.cli", "publish", *map(str, args)], env=env, timeout=300)


def test_dry_run_lists_files_and_sizes_without_network(runs, hub):
    out = publish(hub, runs["merged"], "--repo_id", "lingbridge-test/sentiment", "--dry_run")
    assert out.returncode == 0, out.stderr
    size = (runs["merged"] / "model.safetensors").stat().st_size
    assert f"model.safetensors" in out.stdout and f"({size} bytes)" in out.stdout
    for name in ("config.json", "tokenizer.json", "README.md", "lingbridge_run.json", "confusion_matrix.png",
                 "markets.json"):
        assert name in out.stdout
    assert "feedback.jsonl" not in out.stdout and "training_args" not in out.stdout
    assert hub.requests == []  # nothing left the machine


def test_push_loads_back_and_keeps_the_token_secret(runs, hub):
    run = runs["merged"]
    out = publish(hub, run, "--repo_id", "lingbridge-test/sentiment")
    assert out.returncode == 0, out.stderr
    assert "published: " in out.stdout
    files = hub.files("lingbridge-test/sentiment")
    assert {"model.safetensors", "config.json", "tokenizer.json", "README.md", "lingbridge_run.json",
            "confusion_matrix.png", "loss.png"} <= set(files)
    assert "feedback.jsonl" not in files and not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    assert files["model.safetensors"] == (run / "model.safetensors").read_bytes()
    # one commit, whose message names the run; the client authenticated with the token
    assert len(hub.commits) == 1 and "sentiment" in hub.commits[0]["summary"]
    auth = [h.get("Authorization") or h.get("authorization") for m, p, h in hub.requests if "/commit/" in p]
    assert auth == [f"Bearer {TOKEN}"]
    # the pushed folder is a model that loads and classifies
    from transformers import AutoModelForSequenceClassification, pipeline

    folder = hub.folder("lingbridge-test/sentiment")
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    assert model.config.id2label[0] == "negative"
    assert pipeline("text-classification", model=str(folder))("Great value.")[0]["label"] in model.config.label2id
    # the card parses, validates and names the repo in its snippet
    from huggingface_hub import ModelCard

    from lingbridge.cards import validate_card

    card = ModelCard.load(folder / "README.md")
    assert card.data.pipeline_tag == "text-classification" and validate_card(card) == []
    assert 'model="lingbridge-test/sentiment"' in card.text
    # the token is nowhere: output, run directory, pushed files
    assert TOKEN not in out.stdout + out.stderr
    for path in [*run.rglob("*"), *folder.rglob("*")]:
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path


def test_private_branch(runs, hub):
    out = publish(hub, runs["merged"], "--repo_id", "lingbridge-test/private", "--private", "--revision", "exp-1")
    assert out.returncode == 0, out.stderr
    assert hub.repos["lingbridge-test/private"]["private"] is True
    assert "model.safetensors" in hub.files("lingbridge-test/private", "exp-1")
    assert hub.files("lingbridge-test/private", "main") == {}


def test_dropped_connection_then_retry(runs, hub):
    hub.drop_next = "commit"
    out = publish(hub, runs["merged"], "--repo_id", "lingbridge-test/flaky")
    assert out.returncode == 1
    assert "published:" not in out.stdout
    err = out.stderr.strip().splitlines()[-1]
    assert err.startswith("error: publishing") and "connection failed" in err, out.stderr
    assert "Nothing was published" in err and "again" in err
    assert "Traceback" not in out.stderr and TOKEN not in out.stderr
    assert hub.files("lingbridge-test/flaky") == {} and hub.commits == []
    retry = publish(hub, runs["merged"], "--repo_id", "lingbridge-test/flaky")
    assert retry.returncode == 0, retry.stderr
    assert "published: " in retry.stdout and "model.safetensors" in hub.files("lingbridge-test/flaky")


def test_adapter_or_merged(runs, hub):
    run = runs["adapter"]
    out = publish(hub, run, "--repo_id", "lingbridge-test/adapter", "--base_model", "lingbridge-test/base")
    assert out.returncode == 0, out.stderr
    files = hub.files("lingbridge-test/adapter")
    assert "adapter_model.safetensors" in files and "model.safetensors" not in files
    assert json.loads(files["adapter_config.json"])["base_model_name_or_path"] == "lingbridge-test/base"
    from huggingface_hub import ModelCard

    card = ModelCard.load(hub.folder("lingbridge-test/adapter") / "README.md")
    assert card.data.base_model == "lingbridge-test/base" and card.data.library_name == "peft"

    out = publish(hub, run, "--repo_id", "lingbridge-test/merged", "--lora", "merged")
    assert out.returncode == 0, out.stderr
    files = hub.files("lingbridge-test/merged")
    assert "model.safetensors" in files and not any(f.startswith("adapter_") for f in files)
    from transformers import pipeline

    folder = hub.folder("lingbridge-test/merged")
    assert pipeline("text-classification", model=str(folder))("Nice.")[0]["label"] in ("negative", "neutral", "positive")
    assert ModelCard.load(folder / "README.md").data.library_name == "transformers"


def test_user_mistakes(runs, hub, tmp_path):
    out = publish(hub, runs["merged"], "--repo_id", "no-namespace")
    assert out.returncode == 2 and "namespace/name" in out.stderr
    out = publish(hub, runs["merged"], "--repo_id", "a/b", "--lora", "adapter")
    assert out.returncode == 2 and "merged weights only" in out.stderr
    out = publish(hub, runs["merged"], "--repo_id", "a/b", token=None, home=tmp_path / "empty_home")
    assert out.returncode == 2 and "HF_TOKEN" in out.stderr and hub.requests == []
