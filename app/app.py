"""The stakeholder app: a Gradio Blocks page over lingbridge run directories (and Hub ids).

    lingbridge app                       # every run directory under runs/
    lingbridge app runs/sentiment-pretrained my-org/sentiment-xlmr --port 7860
    python app/app.py --roots runs other_runs

One tab per task a loaded run supports (classification with explanations and feedback, fill-mask,
translation, question answering, vision when lingbridge.vision is installed), a model picker with
headline metrics, and a compare view. Safe by default: local address only, no share link, Gradio
analytics off, inputs capped, a queue with a concurrency limit, and only run directories under the
configured roots are loadable.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no calls home

if __package__ in (None, ""):  # `python app/app.py` from a checkout: import the installed package
    from lingbridge.app import backend
else:
    from . import backend

from fastapi import Request  # at module level: FastAPI reads the routes' annotations from here

from lingbridge.errors import UserError

NO_RUNS = """### No run directories yet

The app shows models from lingbridge run directories, and none were found under {roots}.
Make some in a few minutes on a CPU, offline:

```
lingbridge quickstart
lingbridge app
```

or start the app on a run directory or a Hub id: `lingbridge app runs/<run> my-org/my-model`.
"""
TASK_TABS = {"text-classification": "Classify", "fill-mask": "Fill mask", "translation": "Translate",
             "question-answering": "Question answering", "vision": "Images"}


def _gradio_errors(fn):
    """User mistakes (empty or long input, unknown run) become a message in the page, not a traceback."""
    import gradio as gr

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except UserError as err:
            raise gr.Error(str(err), print_exception=False) from None  # a user mistake: no server traceback

    return wrapper


def build_demo(registry: backend.Registry, concurrency: int = 2):
    """The Blocks app for the runs in `registry` (a queue of at most `concurrency` jobs at once)."""
    import gradio as gr

    reg = registry
    tasks = {run.task for run in reg.runs.values()}

    def choices(task=None):
        return [(f"{n} · {reg.runs[n].headline()}", n) for n in reg.names(task)]

    def first(task=None):
        names = reg.names(task)
        return names[0] if names else None

    with gr.Blocks(title="lingbridge") as demo:
        gr.Markdown("# lingbridge models\nMultilingual models trained with lingbridge: try them, see why they "
                    "decide as they do, compare two of them, and flag wrong answers.")
        dropdowns: dict[str, list] = {}

        def picker(task, label="Model"):
            # custom values reach the backend, which names what is wrong (gradio would print a traceback)
            dd = gr.Dropdown(choices=choices(task), value=first(task), label=label, allow_custom_value=True)
            dropdowns.setdefault(task, []).append(dd)
            return dd

        with gr.Tab("Models"):
            if not reg.runs:
                gr.Markdown(NO_RUNS.format(roots=", ".join(f"`{r}`" for r in reg.roots)))
            for err in reg.errors:
                gr.Markdown(f"⚠️ {err}")
            table = gr.Dataframe(value=reg.table(), headers=["run", "job", "task", "languages", "headline metric"],
                                 interactive=False, label="Runs")
            with gr.Row():
                path_box = gr.Textbox(label="Load another run directory (under " +
                                      ", ".join(str(r) for r in reg.roots) + ")", scale=4)
                load_btn = gr.Button("Load", scale=1)
            load_status = gr.Markdown()
            with gr.Accordion("Training curves", open=bool(reg.runs)):
                curve_run = gr.Dropdown(choices=choices(), value=first(), label="Run", allow_custom_value=True)
                curve_plot = gr.Plot(value=_curves(reg, first()), label="Loss and dev metrics by step")
            curve_run.change(_gradio_errors(lambda n: _curves(reg, n)), curve_run, curve_plot, api_name="curves")
            dropdowns.setdefault(None, []).append(curve_run)

        if "text-classification" in tasks:
            with gr.Tab("Classify"):
                with gr.Row():
                    with gr.Column():
                        clf_run = picker("text-classification")
                        clf_text = gr.Textbox(label="Text", lines=3, max_length=reg.max_input_chars,
                                              value=_example(reg, first("text-classification")))
                        clf_btn = gr.Button("Classify", variant="primary")
                    with gr.Column():
                        clf_label = gr.Label(label="Label probabilities")
                        clf_lang = gr.Markdown(label="Language detected")
                with gr.Accordion("Explain: which words drove the prediction", open=False):
                    exp_btn = gr.Button("Explain")
                    exp_plot = gr.Plot(label="Token attributions")
                with gr.Accordion("Wrong? Flag it (it becomes training data for the next run)", open=False):
                    fb_label = gr.Dropdown(choices=_labels(reg, first("text-classification")), value=None, allow_custom_value=True,
                                           label="Right label (optional)")
                    fb_btn = gr.Button("Flag as wrong")
                    fb_status = gr.Markdown()

            def run_classify(name, text):
                return backend.classify(reg, name, text)

            def run_explain(name, text):
                tokens, drops, label = backend.token_attributions(reg, name, text)
                return backend.attribution_figure(tokens, drops, label)

            def run_flag(name, text, predicted, correct):
                top = (predicted or {}).get("label") if isinstance(predicted, dict) else predicted
                path = reg.add_feedback(reg.get(name, "text-classification"), text, top or "", correct or None)
                what = f"with the right label **{correct}**" if correct else "without a label (kept for review)"
                return f"Thanks: flagged {what}, saved to `{path.name}` in the run directory."

            clf_btn.click(_gradio_errors(run_classify), [clf_run, clf_text], [clf_label, clf_lang], api_name="classify")
            clf_text.submit(_gradio_errors(run_classify), [clf_run, clf_text], [clf_label, clf_lang], api_name=False)
            exp_btn.click(_gradio_errors(run_explain), [clf_run, clf_text], exp_plot, api_name="explain")
            fb_btn.click(_gradio_errors(run_flag), [clf_run, clf_text, clf_label, fb_label], fb_status, api_name="flag")
            clf_run.change(lambda n: (gr.update(choices=_labels(reg, n), value=None), _example(reg, n)),
                           clf_run, [fb_label, clf_text], api_name=False)

        if "fill-mask" in tasks:
            with gr.Tab("Fill mask"):
                fm_run = picker("fill-mask")
                fm_text = gr.Textbox(label="Text with <mask>", value="Paris is the <mask> of France.")
                fm_btn = gr.Button("Fill", variant="primary")
                fm_out = gr.Label(label="Top tokens")
            fm_btn.click(_gradio_errors(lambda n, t: backend.fill_mask(reg, n, t)), [fm_run, fm_text], fm_out,
                         api_name="fill_mask")

        if "translation" in tasks:
            with gr.Tab("Translate"):
                tr_run = picker("translation")
                src, tgt = backend.directions(reg.get(first("translation")))
                with gr.Row():
                    tr_src = gr.Dropdown(choices=src, value=src[0] if src else None, label="From", allow_custom_value=True)
                    tr_tgt = gr.Dropdown(choices=tgt, value=tgt[-1] if tgt else None, label="To", allow_custom_value=True)
                tr_text = gr.Textbox(label="Text", lines=3, max_length=reg.max_input_chars)
                tr_btn = gr.Button("Translate", variant="primary")
                tr_out = gr.Textbox(label="Translation", lines=3)
            tr_btn.click(_gradio_errors(lambda n, t, s, g: backend.translate(reg, n, t, s, g)),
                         [tr_run, tr_text, tr_src, tr_tgt], tr_out, api_name="translate")

            def pick_directions(name):
                s, t = backend.directions(reg.get(name))
                return gr.update(choices=s, value=s[0] if s else None), gr.update(choices=t, value=t[-1] if t else None)

            tr_run.change(pick_directions, tr_run, [tr_src, tr_tgt], api_name=False)

        if "question-answering" in tasks:
            with gr.Tab("Question answering"):
                qa_run = picker("question-answering")
                qa_context = gr.Textbox(label="Context", lines=5, max_length=reg.max_input_chars)
                qa_question = gr.Textbox(label="Question", max_length=reg.max_input_chars)
                qa_btn = gr.Button("Answer", variant="primary")
                qa_answer = gr.Textbox(label="Answer")
                qa_spans = gr.HighlightedText(label="Answer in the context", color_map={"answer": "yellow"})
            qa_btn.click(_gradio_errors(lambda n, c, q: backend.answer(reg, n, c, q)),
                         [qa_run, qa_context, qa_question], [qa_spans, qa_answer], api_name="answer")

        if "vision" in tasks and backend.vision_available():
            with gr.Tab("Images"):
                vi_run = picker("vision")
                with gr.Row():
                    vi_image = gr.Image(label="Upload a digit", type="numpy")
                    vi_draw = gr.Sketchpad(label="…or draw one", type="numpy")
                    vi_label = gr.Label(label="Classes")
                with gr.Row():
                    vi_btn = gr.Button("Classify the upload")
                    draw_btn = gr.Button("Classify the drawing")
                with gr.Row():
                    gen_class = gr.Dropdown(label="Class (conditional GAN runs)", choices=[""], value="",
                                            allow_custom_value=True)
                    gen_count = gr.Slider(1, 32, value=8, step=1, label="Samples")
                    gen_btn = gr.Button("Generate samples (GAN / VAE runs)")
                gallery = gr.Gallery(label="Samples", columns=8)
            vi_btn.click(_gradio_errors(lambda n, im: backend.classify_image(reg, n, im)), [vi_run, vi_image],
                         vi_label, api_name="classify_image")
            draw_btn.click(_gradio_errors(lambda n, im: backend.classify_image(reg, n, im)), [vi_run, vi_draw],
                           vi_label, api_name="classify_drawing")
            gen_btn.click(_gradio_errors(lambda n, k, c: backend.generate(reg, n, k, c)), [vi_run, gen_count, gen_class],
                          gallery, api_name="generate")
            vi_run.change(lambda n: gr.update(choices=["", *backend.vision_classes(reg, n)], value="") if n else gr.update(),
                          vi_run, gen_class, api_name=False)

        comparable = [n for n, r in reg.runs.items() if r.task in ("text-classification", "fill-mask", "translation")]
        if comparable:
            with gr.Tab("Compare"):
                gr.Markdown("The same input through two runs side by side: before and after a finetune, or two "
                            "languages' models. Pick two runs of the same task.")
                names = [(f"{n} · {reg.runs[n].headline()}", n) for n in comparable]
                with gr.Row():
                    cmp_a = gr.Dropdown(choices=names, value=comparable[0], label="Run A", allow_custom_value=True)
                    cmp_b = gr.Dropdown(choices=names, value=comparable[min(1, len(comparable) - 1)], label="Run B",
                                        allow_custom_value=True)
                cmp_text = gr.Textbox(label="Input", value=_example(reg, comparable[0]), max_length=reg.max_input_chars)
                cmp_btn = gr.Button("Compare", variant="primary")
                with gr.Row():
                    with gr.Column():
                        cmp_out_a, cmp_note_a = gr.Label(label="Run A"), gr.Markdown()
                    with gr.Column():
                        cmp_out_b, cmp_note_b = gr.Label(label="Run B"), gr.Markdown()
            cmp_btn.click(_gradio_errors(lambda a, b, t: backend.compare(reg, a, b, t)), [cmp_a, cmp_b, cmp_text],
                          [cmp_out_a, cmp_note_a, cmp_out_b, cmp_note_b], api_name="compare")

        from lingbridge.app.markets import add_markets_tab, runs_with_markets

        if runs_with_markets(reg):  # runs assessed with `lingbridge readiness`: where can we launch?
            add_markets_tab(reg)

        all_dropdowns = [(task, dd) for task, dds in dropdowns.items() for dd in dds]

        def load_run(text):
            run = reg.load(text)
            updates = [gr.update(choices=choices(task)) for task, _ in all_dropdowns]
            note = f"Loaded **{run.name}** ({run.task}, {run.headline()})."
            if run.task not in dropdowns:
                note += " No tab serves this task yet: restart the app to get one."
            return reg.table(), note, *updates

        load_btn.click(_gradio_errors(load_run), path_box, [table, load_status, *[dd for _, dd in all_dropdowns]],
                       api_name="load_run")
        gr.Button("", visible=False).click(lambda: reg.table(), None, table, api_name="runs")

    demo.queue(default_concurrency_limit=concurrency, max_size=256)
    return demo


def _curves(reg: backend.Registry, name: str | None):
    """The curves of a run that has them; None (an empty plot) for none picked or a run without curves."""
    if not name:
        return None
    import matplotlib.pyplot as plt

    fig = backend.curves(reg, name)
    if fig is not None:
        plt.close(fig)  # gradio renders it; pyplot need not keep it
    return fig


def _labels(reg: backend.Registry, name: str | None) -> list[str]:
    return list(reg.runs[name].record.get("label_names") or []) if name in reg.runs else []


def _example(reg: backend.Registry, name: str | None) -> str:
    ex = reg.runs[name].record.get("example_input") if name in reg.runs else None
    return ex if isinstance(ex, str) else ""


MAX_BODY_BYTES = 64 * 1024  # a JSON API request body: far above the input cap, far below what fills memory


def json_api(registry: backend.Registry):
    """The light per-request path beside the page, for services and scripts: plain JSON over HTTP, no queue,
    no session, and the same checks and batched model as the page.

        curl -s localhost:7860/api/v1/classify -d '{"run": "sentiment", "text": "Das Hotel war wunderbar."}'
        -> {"run": "sentiment", "label": "positive", "scores": {...}, "language": "de"}

    A user mistake is a 400 with {"error": "..."}; an unknown run a 404; a body over 64 KB (or 6 bytes a
    character of `--max_input_chars`, when that is more) a 413.
    """
    from fastapi import APIRouter
    from fastapi.responses import JSONResponse
    from fastapi.concurrency import run_in_threadpool

    router = APIRouter(prefix="/api/v1")
    # never below what the input cap lets through (a character is up to 6 bytes of JSON: \uXXXX)
    limit = max(MAX_BODY_BYTES, 6 * registry.max_input_chars + 1024)

    async def read_json(request: Request) -> dict:
        size = request.headers.get("content-length")
        if size is not None and (not size.isdigit() or int(size) > limit):
            raise UserError(f"the request body is over {limit // 1024} KB")
        body = b""
        async for chunk in request.stream():  # a chunked body is counted as it arrives
            body += chunk
            if len(body) > limit:
                raise UserError(f"the request body is over {limit // 1024} KB")
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise UserError('the body must be JSON: {"run": "<name>", "text": "<text>"}') from None
        if not isinstance(data, dict) or not isinstance(data.get("run"), str) or not isinstance(data.get("text"), str):
            raise UserError('the body must be a JSON object with string fields "run" and "text"')
        return data

    def error(err: UserError) -> JSONResponse:
        message = str(err)
        status = 413 if "body is over" in message else 404 if message.startswith("unknown run") else 400
        return JSONResponse({"error": message}, status_code=status)

    @router.get("/runs")
    def runs():
        return [{"run": name, "job": job, "task": task, "languages": langs, "headline": headline}
                for name, job, task, langs, headline in registry.table()]

    @router.post("/classify")
    async def classify(request: Request):
        try:
            data = await read_json(request)
            run = registry.get(data["run"], "text-classification")
            text = registry.check_input(data["text"])
            batcher = registry.built_batcher(run)
            if batcher is None:  # its model is still loading: wait for it in a worker thread, not in the event loop
                run, text, scores = await run_in_threadpool(backend.predict_label, registry, run.name, text)
            else:  # the common path: no thread hop, the event loop awaits the batch the request joins
                scores = backend.labelled(batcher, await asyncio.wrap_future(batcher.submit(text)))
        except UserError as err:
            return error(err)
        return {"run": run.name, "label": max(scores, key=scores.get), "scores": scores,
                "language": backend.detect_language(text)[0]}

    return router


def server(demo, registry: backend.Registry, host: str, port: int):
    """The page and the JSON API on one uvicorn server (as `demo.launch` runs the page alone)."""
    import gradio as gr
    import uvicorn
    from fastapi import FastAPI

    api = FastAPI(title="lingbridge", docs_url=None, redoc_url=None, openapi_url=None)
    api.include_router(json_api(registry))
    app = gr.mount_gradio_app(api, demo, path="/", server_name=host, server_port=port, show_error=True)
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="lingbridge app", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", help="run directories or Hub ids to serve (default: all under --roots)")
    parser.add_argument("--roots", nargs="+", default=["runs"],
                        help="folders whose run directories are listed and may be loaded from the page")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 exposes it to the network)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)))
    parser.add_argument("--max_input_chars", type=int, default=backend.MAX_INPUT_CHARS)
    parser.add_argument("--concurrency", type=int, default=2, help="requests the queue runs at once (CPU cores)")
    parser.add_argument("--share", action="store_true", help="create a public gradio.live link (off by default)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.max_input_chars < 1 or args.concurrency < 1:
        raise UserError("--max_input_chars and --concurrency must be at least 1")
    registry = backend.Registry([*args.roots], list(args.runs), args.max_input_chars)
    registry.warm_up()  # models load while the server starts: the first request does not wait for one
    demo = build_demo(registry, args.concurrency)
    if args.share:  # a gradio.live tunnel carries the page only
        demo.launch(server_name=args.host, server_port=args.port, share=True, show_error=True)
    else:
        print(f"* lingbridge app on http://{args.host}:{args.port}/  "
              "(JSON API: POST /api/v1/classify, GET /api/v1/runs)", flush=True)
        server(demo, registry, args.host, args.port).run()


if __name__ == "__main__":
    from lingbridge.errors import exit_on_user_error

    exit_on_user_error(main)(sys.argv[1:])
