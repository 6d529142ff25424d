"""What the app does with run directories, without any Gradio: find them, check where they are,
build each pipeline once, predict, explain, and store feedback.

Only run directories under the configured roots (or named on the command line) are loadable; a
name from the page is resolved and checked before anything is read, so `../` and symlinks that
leave the roots are refused.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from lingbridge.errors import UserError
from lingbridge.languages import LANGUAGE_NAMES
from lingbridge.record import RECORD_NAME
from lingbridge.tasks import task_of_record

MAX_INPUT_CHARS = 2000  # longer inputs are refused with a message; the models read their first 128-512 tokens
FEEDBACK_FILE = "feedback.jsonl"  # training rows (text, label, lang) that `--train_file` reads back
UNLABELLED_FILE = "feedback_unlabelled.jsonl"  # "wrong" flags without the right label, for review
MAX_FEEDBACK_BYTES = 5 * 2**20  # per feedback file: anyone who reaches the app can flag, nobody can fill the disk
MAX_LABEL_CHARS = 200  # the `predicted` label stored with a flag


@dataclass
class Run:
    """A loadable run: its display name, folder and record."""

    name: str
    path: Path
    record: dict

    @property
    def registry_task(self):
        return task_of_record(self.record)

    @property
    def task(self) -> str:
        """The app's tab for this run: its pipeline tag, or `vision` for every image model (one Images tab)."""
        task = self.registry_task
        if task is not None:
            return "vision" if task.modality == "image" else task.pipeline_tag
        return self.record.get("pipeline_tag") or self.record.get("task") or "unknown"

    def headline(self) -> str:
        """The model picker's metric: the task's headline metrics first (the first one the run has)."""
        row = (self.record.get("metrics", {}).get("per_language") or {}).get("all") or {}
        task = self.registry_task
        for metric in (task.headline_metrics if task else ()) + ("accuracy", "f1", "fid"):
            if isinstance(row.get(metric), (int, float)):
                return f"{metric} {row[metric]:.3f} (n={row.get('n', '?')})"
        return "no evaluation"


def _visible(text: str) -> bool:
    """Anything but control, format and separator characters (a text of only those is empty)."""
    import unicodedata

    return any(unicodedata.category(ch)[0] not in "CZ" for ch in text)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


@dataclass
class Registry:
    """The runs the app may load, and one pipeline per run (built on first use, then reused).

    Args:
        roots: folders whose run directories (at any depth up to 3) are listed and loadable.
        runs: run directories or Hub ids named explicitly (by whoever started the app).
    """

    roots: list[Path] = field(default_factory=lambda: [Path("runs")])
    explicit: list[str] = field(default_factory=list)
    max_input_chars: int = MAX_INPUT_CHARS

    def __post_init__(self):
        self.roots = [Path(r).resolve() for r in self.roots]
        self.runs: dict[str, Run] = {}
        self._pipelines: dict[Path, object] = {}
        self._batchers: dict[Path, Batcher] = {}
        self._locks: dict[Path, threading.Lock] = {}
        self._guard = threading.Lock()
        self._feedback_lock = threading.Lock()
        self.errors: list[str] = []
        self.refresh()

    # ---- which runs ------------------------------------------------------------------------------
    def refresh(self) -> None:
        for root in self.roots:
            if root.is_dir():
                for rec in sorted(root.glob(f"**/{RECORD_NAME}")):
                    if (len(rec.relative_to(root).parts) <= 4 and not rec.parent.name.endswith(".partial")
                            and _inside(rec.parent.resolve(), root)):  # a symlink out of the root is not listed
                        try:
                            self._add(rec.parent, rec.parent.relative_to(root).as_posix() if rec.parent != root else root.name)
                        except UserError as err:  # one damaged run must not keep the others from the page
                            self.errors.append(str(err))
        known = {run.path for run in self.runs.values()}
        for item in self.explicit:
            try:
                path = self._fetch(item)
                if path.resolve() not in known:
                    self._add(path, item)
            except UserError as err:
                self.errors.append(str(err))

    def _fetch(self, item: str) -> Path:
        path = Path(item)
        if path.is_dir():
            return path.resolve()
        if path.exists() or item.startswith((".", "/")) or item.count("/") != 1:
            raise UserError(f"{item}: not a run directory")
        from huggingface_hub import snapshot_download

        try:  # a Hub id: the repository is a run directory (lingbridge publish uploads one)
            return Path(snapshot_download(item))
        except Exception as err:
            raise UserError(f"{item}: could not download from the Hub ({type(err).__name__}); "
                            "offline, only cached repositories load") from None

    def _add(self, folder: Path, name: str) -> Run:
        from lingbridge.record import read_record

        run = Run(name, folder.resolve(), read_record(folder))
        self.runs[name] = run
        return run

    def load(self, text: str) -> Run:
        """Add a run directory typed in the page: a path under one of the roots, nothing else."""
        text = (text or "").strip()
        if not text:
            raise UserError("type a run directory (a folder under " + ", ".join(map(str, self.roots)) + ")")
        for root in self.roots:
            candidate = (root / text).resolve() if not Path(text).is_absolute() else Path(text).resolve()
            if not _inside(candidate, root):
                continue
            if (candidate / RECORD_NAME).is_file():
                return self._add(candidate, candidate.relative_to(root).as_posix() or root.name)
        raise UserError(f"'{text}' is not a run directory under the app's roots "
                        f"({', '.join(map(str, self.roots))}); only those can be loaded")

    def get(self, name: str, task: str | None = None) -> Run:
        run = self.runs.get(name or "")
        if run is None:
            raise UserError(f"unknown run '{name}'; pick one from the list")
        if task and run.task != task:
            raise UserError(f"run '{name}' is a {run.task} model, not {task}")
        return run

    def names(self, task: str | None = None) -> list[str]:
        return [n for n, r in self.runs.items() if task is None or r.task == task]

    def table(self) -> list[list]:
        return [[n, r.record.get("job", ""), r.task, ", ".join(r.record.get("languages", [])), r.headline()]
                for n, r in self.runs.items()]

    # ---- pipelines (one per run) -------------------------------------------------------------------
    def pipeline(self, run: Run):
        with self._guard:
            if run.path in self._pipelines:
                return self._pipelines[run.path]
            lock = self._locks.setdefault(run.path, threading.Lock())
        with lock:  # two first requests at once build it once
            if run.path not in self._pipelines:
                self._pipelines[run.path] = build_pipeline(run)
        return self._pipelines[run.path]

    def built_batcher(self, run: Run) -> "Batcher | None":
        """The run's batcher if its model is loaded, else None (without waiting for a build)."""
        return self._batchers.get(run.path)

    def batcher(self, run: Run) -> "Batcher":
        """The one thread that runs a classification model, batching the requests that arrive together."""
        served = self.pipeline(run)
        with self._guard:
            if run.path not in self._batchers:
                self._batchers[run.path] = Batcher(served)
            return self._batchers[run.path]

    def warm_up(self, background: bool = True):
        """Build every run's pipeline now (in a thread by default), so that no request waits for a model to
        load; a request that comes first waits only for the rest of its own run's build."""
        def build_all():
            try:
                detect_language("warm up")  # every classification answer names the language
            except Exception as err:  # noqa: BLE001 - the models still load; answers that need it say why
                self.errors.append(f"language identification could not load ({type(err).__name__}: {err})")
            for run in list(self.runs.values()):
                try:
                    if run.task == "text-classification":
                        self.batcher(run)
                    else:
                        self.pipeline(run)
                except Exception as err:  # noqa: BLE001 - a run that cannot be served says so when asked
                    self.errors.append(f"{run.name}: could not be loaded ({type(err).__name__}: {err})")

        if not background:
            build_all()
            return None
        # Import what both threads need here, first: two threads importing transformers' lazy modules at once
        # can deadlock on the import locks, and Python breaks that by handing one thread a half-initialised
        # module ("cannot import name 'TrainerCallback'"; one app start in five did). The models load in
        # the thread; the page's build imports nothing more of transformers.
        import lingbridge.models  # noqa: F401
        import lingbridge.training  # noqa: F401
        from transformers import AutoTokenizer, pipeline  # noqa: F401
        thread = threading.Thread(target=build_all, name="lingbridge-warm-up", daemon=True)
        thread.start()
        return thread

    def check_input(self, text: str, what: str = "input") -> str:
        if not isinstance(text, str):
            raise UserError(f"the {what} must be text")
        text = text.strip()
        if not text or not _visible(text):
            raise UserError(f"the {what} is empty: type something first")
        if len(text) > self.max_input_chars:
            raise UserError(f"the {what} is {len(text)} characters long; the limit is {self.max_input_chars}. "
                            "Shorten it and try again")
        return text

    # ---- feedback -----------------------------------------------------------------------------------
    def add_feedback(self, run: Run, text: str, predicted: str, correct: str | None) -> Path:
        """Append a flag to the run's feedback files; rows with the right label are training data."""
        text = self.check_input(text)
        labels = run.record.get("label_names") or []
        if correct and correct not in labels:
            raise UserError(f"label '{correct}' is not one of this model's labels: {', '.join(labels)}")
        predicted = str(predicted or "")
        if len(predicted) > MAX_LABEL_CHARS or not (predicted in labels or not predicted or not labels):
            raise UserError(f"'predicted' must be one of this model's labels: {', '.join(labels)}")
        lang = detect_language(text)[0]
        row = {"text": text, "label": correct, "lang": lang if lang in LANGUAGE_NAMES else "und",
               "predicted": predicted, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        line = json.dumps(row, ensure_ascii=False) + "\n"
        path = run.path / (FEEDBACK_FILE if correct else UNLABELLED_FILE)
        with self._feedback_lock:
            size = path.stat().st_size if path.exists() else 0
            if size + len(line.encode("utf-8")) > MAX_FEEDBACK_BYTES:
                raise UserError(f"this run's {path.name} is full ({MAX_FEEDBACK_BYTES // 2**20} MB): train on it and "
                                "start the app on the new run, or move the file away")
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(line)
        return path


def build_pipeline(run: Run):
    """What serves a run: a transformers pipeline (classification, fill-mask) or (model, tokenizer)
    for translation and QA, whose pipelines transformers v5 removed. An unmerged LoRA adapter is
    merged on load."""
    from transformers import AutoTokenizer, pipeline

    task, path, spec = run.task, str(run.path), run.registry_task
    if task == "vision":
        from lingbridge import vision

        return vision.load_vision_run(path)
    with_pipeline = ("text-classification", "fill-mask")  # transformers v5 removed the translation and QA pipelines
    if spec is None or task not in (*with_pipeline, "translation", "question-answering"):
        raise UserError(f"run '{run.name}' has task '{task}', which the app cannot serve")
    tokenizer = AutoTokenizer.from_pretrained(path)
    if (run.path / "adapter_model.safetensors").is_file() and not (run.path / "model.safetensors").is_file():
        import peft
        from transformers import AutoConfig

        kwargs = {}
        if task == "text-classification":
            labels = AutoConfig.from_pretrained(path).id2label
            kwargs = {"num_labels": len(labels), "id2label": labels}
        model = getattr(peft, spec.peft_class or "AutoPeftModel").from_pretrained(path, **kwargs).merge_and_unload()
    elif task not in with_pipeline:
        import transformers

        model = getattr(transformers, spec.auto_class).from_pretrained(path)
    else:
        return pipeline(task, model=path, tokenizer=tokenizer)
    model.eval()
    if task not in with_pipeline:
        return SimpleNamespace(model=model, tokenizer=tokenizer)
    return pipeline(task, model=model, tokenizer=tokenizer)


_langid = None
_langid_lock = threading.Lock()


def detect_language(text: str) -> tuple[str, float]:
    """(ISO code, probability) from py3langid, loaded once."""
    global _langid
    with _langid_lock:  # loading takes about a second: 20 first requests at once must not load it 20 times
        if _langid is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _langid = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    lang, prob = _langid.classify(text)
    return lang, float(prob)


def language_note(run: Run, text: str) -> str:
    lang, prob = detect_language(text)
    name = LANGUAGE_NAMES.get(lang, lang)
    trained = run.record.get("train_languages") or run.record.get("languages") or []
    evaluated = run.record.get("languages") or []
    if lang in trained:
        where = "a training language of this model"
    elif lang in evaluated:
        where = "not trained on: evaluated zero-shot (see its row in the results)"
    else:
        where = "never seen in training or evaluation: expect weaker predictions"
    return f"**{name}** (`{lang}`, p={prob:.2f}): {where}"


# ---- predictions --------------------------------------------------------------------------------------


# A fast tokenizer keeps its truncation setting on one shared Rust object: concurrent requests with different
# limits (classify vs explain) would see each other's; tokenising takes microseconds, so one lock serves all.
_TOKENIZE = threading.Lock()


def _tokenize(tokenizer, *texts, **kwargs):
    with _TOKENIZE:
        return tokenizer(*texts, **kwargs)


def _encode(served, text: str):
    """The model's input for `text`, truncated to what the model reads (a long text is cut, never an error)."""
    from lingbridge.models import input_limit

    limit = getattr(served, "_lingbridge_limit", None)
    if limit is None:
        limit = served._lingbridge_limit = input_limit(served.tokenizer, served.model.config)
    return _tokenize(served.tokenizer, text, truncation=True, max_length=limit, return_tensors="pt")


def curves(registry: Registry, run_name: str):
    """A run's training curves (loss, dev loss, dev metrics per language by step), or None for a run
    with none (a vision run, an evaluation-only folder)."""
    from lingbridge.training import curves_figure

    return curves_figure(registry.get(run_name).path)


class Batcher:
    """Dynamic batching for one classification model (what Triton and TorchServe call it): requests that
    arrive while a forward pass runs wait for the next one and share it. One thread runs the model, so
    concurrent requests never fight over the CPU's cores, and 20 waiting requests cost one padded pass."""

    def __init__(self, served, max_batch: int = 32):
        from lingbridge.models import input_limit

        self.served = served
        self.max_batch = max_batch if served.tokenizer.pad_token is not None else 1  # nothing to pad with: one at a time
        self.limit = input_limit(served.tokenizer, served.model.config)
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="lingbridge-batcher", daemon=True).start()

    def __call__(self, text: str) -> list[float]:
        """Class probabilities for one text (truncated to what the model reads)."""
        return self.submit(text).result()

    def submit(self, text: str) -> Future:
        """A slot in the next forward pass: a future of the class probabilities (an event loop awaits it
        with `asyncio.wrap_future`, no thread of its own waiting)."""
        future: Future = Future()
        self._queue.put((text, future))
        return future

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                probs = self._forward([text for text, _ in batch])
            except BaseException as err:  # noqa: BLE001 - the callers get it, the thread serves the next batch
                for _, future in batch:
                    future.set_exception(err)
            else:
                for (_, future), p in zip(batch, probs):
                    future.set_result(p)

    def _forward(self, texts: list[str]) -> list[list[float]]:
        import torch

        inputs = _tokenize(self.served.tokenizer, texts, truncation=True, max_length=self.limit,
                           padding=len(texts) > 1, return_tensors="pt")
        with torch.inference_mode():
            return self.served.model(**inputs).logits.float().softmax(-1).tolist()


def labelled(batcher: Batcher, probs: list[float]) -> dict[str, float]:
    labels = batcher.served.model.config.id2label
    return {labels[i]: p for i, p in enumerate(probs)}


def predict_label(registry: Registry, run_name: str, text: str) -> tuple[Run, str, dict[str, float]]:
    """(run, the checked text, label probabilities): one slot in the run's next batched forward pass."""
    run = registry.get(run_name, "text-classification")
    text = registry.check_input(text)
    batcher = registry.batcher(run)
    return run, text, labelled(batcher, batcher(text))


def classify(registry: Registry, run_name: str, text: str) -> tuple[dict[str, float], str]:
    """Label probabilities and a language note."""
    run, text, scores = predict_label(registry, run_name, text)
    return scores, language_note(run, text)


def fill_mask(registry: Registry, run_name: str, text: str) -> dict[str, float]:
    """The 5 likeliest tokens for the first mask (which must lie within the tokens the model reads)."""
    import torch

    run = registry.get(run_name, "fill-mask")
    text = registry.check_input(text)
    served = registry.pipeline(run)
    tok = served.tokenizer
    if tok.mask_token not in text:
        raise UserError(f"put the mask token {tok.mask_token} where the missing word goes")
    enc = _encode(served, text)
    where = (enc["input_ids"][0] == tok.mask_token_id).nonzero()
    if not len(where):
        raise UserError(f"the mask token comes after the first {enc['input_ids'].shape[1]} tokens, which is all the "
                        "model reads; move it nearer the start")
    with torch.inference_mode():
        probs = served.model(**enc).logits[0, int(where[0])].float().softmax(-1)
    top = probs.topk(5)
    return {(tok.decode([int(i)]).strip() or repr(tok.decode([int(i)]))): float(p) for p, i in zip(top.values, top.indices)}


def translate(registry: Registry, run_name: str, text: str, source: str | None, target: str | None) -> str:
    import torch

    from lingbridge.models import input_limit

    run = registry.get(run_name, "translation")
    text = registry.check_input(text)
    served = registry.pipeline(run)
    model, tok = served.model, served.tokenizer
    sources, targets = directions(run)
    for code, known, what in ((source, sources, "source"), (target, targets, "target")):
        if code and code not in known:
            raise UserError(f"{what} language '{code}' is not one this run translates ({', '.join(known)})")
    prefix, gen, src_code = "", {}, None
    if source and target:
        try:  # the translation recipe's helper knows each model family's convention (prefix, language tokens)
            from lingbridge.tasks.translation import make_directions

            d = make_directions([(source, target)], model.config, tok)[0]
            prefix, gen, src_code = d.prefix, d.gen_kwargs(), d.src_code
        except (UserError, KeyError, ValueError):
            pass  # a family without language codes translates in its only direction
    with _TOKENIZE:  # src_lang lives on the shared tokenizer
        if src_code:
            tok.src_lang = src_code
        enc = tok(prefix + text, return_tensors="pt", truncation=True, max_length=min(256, input_limit(tok, model.config)))
    with torch.inference_mode():
        ids = model.generate(**enc, max_new_tokens=128, num_beams=1, **gen)
    return tok.decode(ids[0], skip_special_tokens=True).strip()


def directions(run: Run) -> tuple[list[str], list[str]]:
    """Source and target languages of a translation run (from its directions, e.g. "en-de")."""
    pairs = (run.record.get("directions") or (run.record.get("config") or {}).get("directions")
             or [k for k in (run.record.get("metrics", {}).get("per_language") or {}) if "-" in k])
    if pairs:
        pairs = [p.split("-") if isinstance(p, str) else p for p in pairs]
        return sorted({p[0] for p in pairs}), sorted({p[1] for p in pairs})
    langs = run.record.get("languages") or []
    return langs, langs


def answer(registry: Registry, run_name: str, context: str, question: str) -> tuple[list, str]:
    """The answer span highlighted in the context ([(text, label or None), ...]) and the answer.

    The QA task's own windows and post-processing, as in evaluation: a long context is split into
    overlapping windows, the best span over all of them wins, and a SQuAD v2.0 run may answer nothing.
    """
    import numpy as np
    import torch

    from lingbridge.tasks.qa import postprocess_qa_predictions, prepare_eval_features

    run = registry.get(run_name, "question-answering")
    context = registry.check_input(context, "context")
    question = registry.check_input(question, "question")
    served = registry.pipeline(run)
    cfg = run.record.get("config") or {}
    from lingbridge.models import input_limit

    max_len = min(int(cfg.get("max_seq_length") or 384), input_limit(served.tokenizer, served.model.config))
    stride = min(int(cfg.get("doc_stride") or 128), max_len // 2)
    with _TOKENIZE:
        feats = prepare_eval_features({"question": [question], "context": [context]}, [0], served.tokenizer, max_len, stride)
    enc = served.tokenizer.pad({k: v for k, v in feats.items() if k not in ("offset_mapping", "example_index")},
                               return_tensors="pt")
    with torch.no_grad():
        out = served.model(**enc)
    v2 = run.record.get("squad_version") == "v2.0"
    threshold = (run.record.get("null_score_diff_threshold") or {}).get("used", 0.0)
    pred = postprocess_qa_predictions([context], np.zeros(len(feats["input_ids"]), dtype=int), feats["offset_mapping"],
                                      out.start_logits.numpy(), out.end_logits.numpy(),
                                      max_answer_length=int(cfg.get("max_answer_length") or 30),
                                      version_2_with_negative=v2, null_score_diff_threshold=threshold)[0]
    if not pred["text"]:
        return [(context, None)], "no answer in the context (the model abstains)"
    a, b = pred["start"], pred["start"] + len(pred["text"])
    spans = [(context[:a], None), (context[a:b], "answer"), (context[b:], None)]
    return [s for s in spans if s[0]], f"{pred['text']} (score {pred['score']:.2f})"


def compare(registry: Registry, run_a: str, run_b: str, text: str):
    """The same input through two runs of the same task: (label scores A, note A, label scores B, note B)."""
    out = []
    for name in (run_a, run_b):
        run = registry.get(name)
        if run.task == "text-classification":
            scores, note = classify(registry, name, text)
        elif run.task == "fill-mask":
            scores, note = fill_mask(registry, name, text), language_note(run, text)
        elif run.task == "translation":
            src, tgt = directions(run)
            result = translate(registry, name, text, src[0] if src else None, tgt[-1] if tgt else None)
            scores, note = {result: 1.0}, language_note(run, text)
        else:
            raise UserError(f"run '{name}' ({run.task}) takes no single text input to compare")
        out += [scores, f"**{name}** — {run.headline()}\n\n{note}"]
    return tuple(out)


# ---- explanations ---------------------------------------------------------------------------------------

MAX_EXPLAIN_TOKENS = 64  # one forward pass per token: keep the batch small


def token_attributions(registry: Registry, run_name: str, text: str):
    """Occlusion: how much the predicted label's probability drops when each token is masked.

    Returns (tokens, drops, predicted label). One batched forward pass over the input and its
    copies with one token replaced by the mask (or unk) token; no gradients needed.
    """
    import torch

    run = registry.get(run_name, "text-classification")
    text = registry.check_input(text)
    pipe = registry.pipeline(run)
    tok, model = pipe.tokenizer, pipe.model
    enc = _tokenize(tok, text, truncation=True, max_length=MAX_EXPLAIN_TOKENS + 2, return_tensors="pt")
    ids = enc["input_ids"][0]
    special = set(tok.all_special_ids)
    positions = [i for i, t in enumerate(ids.tolist()) if t not in special]
    filler = tok.mask_token_id if tok.mask_token_id is not None else tok.unk_token_id
    batch = ids.repeat(len(positions) + 1, 1)
    for row, pos in enumerate(positions, start=1):
        batch[row, pos] = filler
    with torch.no_grad():
        probs = model(input_ids=batch, attention_mask=torch.ones_like(batch)).logits.softmax(-1)
    pred = int(probs[0].argmax())
    drops = (probs[0, pred] - probs[1:, pred]).tolist()
    tokens = tok.convert_ids_to_tokens([int(ids[p]) for p in positions])
    return [t.replace("▁", " ").replace("Ġ", " ").strip() or "␣" for t in tokens], drops, model.config.id2label[pred]


def attribution_figure(tokens: list[str], drops: list[float], label: str):
    """Tokens as coloured cells, red where masking the token lowers the predicted label's probability."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colors

    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [f for f in ("Noto Sans CJK JP", "WenQuanYi Zen Hei", "Droid Sans Fallback") if f in installed]
    plt.rcParams["font.family"] = ["DejaVu Sans", *cjk]  # CJK tokens need a CJK font, when one is installed
    scale = max(max((abs(d) for d in drops), default=0.0), 1e-6)
    cmap, norm = plt.get_cmap("RdBu_r"), colors.Normalize(-scale, scale)
    per_row, n = 8, len(tokens)
    rows = max(1, -(-n // per_row))
    fig, ax = plt.subplots(figsize=(9, 0.6 * rows + 1.2))
    for i, (token, d) in enumerate(zip(tokens, drops)):
        r, c = divmod(i, per_row)
        ax.add_patch(plt.Rectangle((c, -r), 0.95, 0.85, color=cmap(norm(d))))
        ax.text(c + 0.47, -r + 0.42, token[:12], ha="center", va="center", fontsize=10)
    ax.set_xlim(0, per_row)
    ax.set_ylim(-rows + 0.9, 0.95)
    ax.axis("off")
    ax.set_title(f"Which tokens support '{label}' (red: masking it lowers the probability)", fontsize=10)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, orientation="horizontal",
                 fraction=0.08, pad=0.04, label="probability drop when the token is masked")
    fig.tight_layout()
    return fig


# ---- vision (when lingbridge.vision exists) --------------------------------------------------------------


def vision_available() -> bool:
    try:
        from lingbridge.vision import classify_images, generate_images, load_vision_run  # noqa: F401
    except ImportError:
        return False
    return True


def classify_image(registry: Registry, run_name: str, image) -> dict[str, float]:
    from lingbridge.vision import classify_images

    run = registry.get(run_name, "vision")
    if isinstance(image, dict):  # a drawing: the sketchpad sends its layers; the composite is the picture
        image = image.get("composite")
    if image is None:
        raise UserError("upload or draw an image first")
    vision_run = registry.pipeline(run)
    probs = classify_images(vision_run, [image])[0]
    return {str(name): float(p) for name, p in zip(vision_run.label_names, probs)}


def vision_classes(registry: Registry, run_name: str) -> list[str]:
    """Class names a conditional GAN can be asked for (empty for other vision runs)."""
    vision_run = registry.pipeline(registry.get(run_name, "vision"))
    return [str(n) for n in vision_run.label_names] if getattr(vision_run, "conditional", False) else []


def generate(registry: Registry, run_name: str, count: int = 8, label: str | None = None):
    from lingbridge.vision import generate_images

    run = registry.get(run_name, "vision")
    label = label or None
    if label is not None and label not in vision_classes(registry, run_name):
        raise UserError(f"class '{label}' is not one this run generates")
    return list(generate_images(registry.pipeline(run), int(min(max(count, 1), 32)), label=label))
