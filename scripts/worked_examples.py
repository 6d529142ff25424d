"""Generate `docs/worked_examples.md`: loss, optimiser, metric and attention examples whose every number
comes from torch's and scikit-learn's own implementations, so the document cannot drift from them.

    python scripts/worked_examples.py            # rewrite docs/worked_examples.md (from a checkout)
    python scripts/worked_examples.py --check    # exit 1 if the file differs (tests do this too)
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "worked_examples.md"


def _f(x: float, digits: int = 6) -> str:
    """Round for print: 6 significant digits, no trailing zeros (95.0 → 95)."""
    return f"{float(x):.{digits}g}"


def _vec(values, digits: int = 4) -> str:
    return "[" + ", ".join(_f(v, digits) for v in values) + "]"


def _matrix(m, digits: int = 4) -> str:
    rows = [" ".join(f"{float(v):>8.{digits}f}" for v in row) for row in m]
    return "```\n" + "\n".join(rows) + "\n```"


def mse_example() -> tuple[str, dict]:
    import torch
    import torch.nn.functional as F

    y = torch.tensor([200.0, 250, 300, 350, 400])
    p = torch.tensor([195.0, 240, 295, 340, 385])
    mse = F.mse_loss(p, y).item()
    mae = F.l1_loss(p, y).item()
    sq = ((p - y) ** 2).tolist()
    text = f"""## Mean squared error

MSE = (1/n) Σ (yᵢ − ŷᵢ)²   (`torch.nn.functional.mse_loss`)

| | values |
|---|---|
| targets y | 200, 250, 300, 350, 400 |
| predictions ŷ | 195, 240, 295, 340, 385 |
| errors ŷ − y | {", ".join(_f(v) for v in (p - y).tolist())} |
| squared errors | {", ".join(_f(v) for v in sq)} |

MSE = ({" + ".join(_f(v) for v in sq)}) / 5 = {_f(sum(sq))} / 5 = **{_f(mse)}**

Not 10: that is roughly the RMSE (√{_f(mse)} = {_f(math.sqrt(mse), 4)}); the MAE is {_f(mae)}.
"""
    return text, {"mse": mse, "rmse": math.sqrt(mse), "mae": mae}


def bce_example() -> tuple[str, dict]:
    import torch
    import torch.nn.functional as F

    y = torch.tensor([1.0, 0, 1, 0, 1])
    p = torch.tensor([0.8, 0.2, 0.9, 0.1, 0.75])
    per = F.binary_cross_entropy(p, y, reduction="none")
    mean, total = F.binary_cross_entropy(p, y).item(), F.binary_cross_entropy(p, y, reduction="sum").item()
    d = torch.tensor([0.9])
    adv = F.binary_cross_entropy(d, torch.ones(1)).item()  # −log D(G(z)) is BCE against the label "real"
    rows = "\n".join(f"| {int(yi)} | {_f(pi, 4)} | {'−ln ' + _f(pi, 4) if yi == 1 else '−ln(1 − ' + _f(pi, 4) + ')'} | {_f(li)} |"
                     for yi, pi, li in zip(y.tolist(), p.tolist(), per.tolist()))
    text = f"""## Binary cross-entropy (natural log)

BCE = −(1/n) Σ [yᵢ ln pᵢ + (1 − yᵢ) ln(1 − pᵢ)]   (`torch.nn.functional.binary_cross_entropy`)

| label y | predicted p | term | loss |
|---|---|---|---|
{rows}

Sum = **{_f(total)}**; mean = {_f(total)} / 5 = **{_f(mean)}** (in nats; divide by ln 2 = 0.693147 for bits).

### The generator's adversarial loss

The non-saturating generator loss is −log D(G(z)), the BCE of the discriminator's output on a generated
image against the label "real". With D(G(z)) = 0.9 (the discriminator is fooled):
−ln 0.9 = **{_f(adv)}**. With D(G(z)) = 0.1 it would be −ln 0.1 = {_f(-math.log(0.1))}: the loss is
large, with strong gradients, exactly when the generator is losing.
"""
    return text, {"bce_mean": mean, "bce_sum": total, "adversarial_d09": adv}


def optimiser_example() -> tuple[str, dict]:
    import torch

    def one_step(make):
        w = torch.tensor([2.0], requires_grad=True)
        opt = make([w])
        loss = (w - 1) ** 2
        loss.backward()
        grad = w.grad.item()
        opt.step()
        return grad, w.item()

    lr = 0.1
    g, sgd = one_step(lambda p: torch.optim.SGD(p, lr=lr))
    _, adam = one_step(lambda p: torch.optim.Adam(p, lr=lr, betas=(0.9, 0.99), eps=1e-8))
    _, rms = one_step(lambda p: torch.optim.RMSprop(p, lr=lr, alpha=0.9, eps=1e-8))
    m, v = (1 - 0.9) * g, (1 - 0.99) * g * g
    m_hat, v_hat = m / (1 - 0.9), v / (1 - 0.99)
    s = (1 - 0.9) * g * g
    text = f"""## One optimiser step

J(w) = (w − 1)², w₀ = 2, learning rate η = 0.1. Gradient: g = 2(w₀ − 1) = **{_f(g)}**.
Each value below is what the torch optimiser gives after one `step()`.

**SGD** (`torch.optim.SGD`): w₁ = w₀ − η g = 2 − 0.1 · {_f(g)} = **{_f(sgd)}**

**Adam** (`torch.optim.Adam`, β₁ = 0.9, β₂ = 0.99, ε = 1e-8, moments start at 0):

- m₁ = (1 − β₁) g = {_f(m)};  v₁ = (1 − β₂) g² = {_f(v)}
- bias correction: m̂ = m₁ / (1 − β₁¹) = {_f(m_hat)};  v̂ = v₁ / (1 − β₂¹) = {_f(v_hat)}
- w₁ = w₀ − η m̂ / (√v̂ + ε) = 2 − 0.1 · {_f(m_hat)} / {_f(math.sqrt(v_hat))} = **{_f(adam)}**

Adam's first step moves every weight by about η whatever the gradient's size (m̂/√v̂ = ±1): 1.9, not the
1.8 of plain SGD.

**RMSprop** (`torch.optim.RMSprop`, ρ = `alpha` = 0.9, ε = 1e-8, no momentum):

- s₁ = ρ · 0 + (1 − ρ) g² = {_f(s)}
- w₁ = w₀ − η g / (√s₁ + ε) = 2 − 0.1 · {_f(g)} / {_f(math.sqrt(s))} = **{_f(rms)}**

RMSprop has no bias correction: its first step is larger than Adam's.
"""
    return text, {"grad": g, "sgd": sgd, "adam": adam, "rmsprop": rms}


def metrics_example() -> tuple[str, dict]:
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

    tp, fn, fp, tn = 100, 50, 20, 30
    y = np.array([1] * tp + [1] * fn + [0] * fp + [0] * tn)
    p = np.array([1] * tp + [0] * fn + [1] * fp + [0] * tn)
    acc, prec, rec, f1 = (accuracy_score(y, p), precision_score(y, p), recall_score(y, p), f1_score(y, p))
    text = f"""## Accuracy, precision, recall, F1

Confusion matrix (positive class 1), computed with `sklearn.metrics` on the {len(y)} labels it describes:

| | predicted 1 | predicted 0 |
|---|---|---|
| **actual 1** | TP = {tp} | FN = {fn} |
| **actual 0** | FP = {fp} | TN = {tn} |

- accuracy = (TP + TN) / all = {tp + tn} / {len(y)} = **{_f(acc, 4)}**
- precision = TP / (TP + FP) = {tp} / {tp + fp} = **{_f(prec, 4)}**
- recall = TP / (TP + FN) = {tp} / {tp + fn} = **{_f(rec, 4)}**
- F1 = 2 · P · R / (P + R) = 2 · {_f(prec, 4)} · {_f(rec, 4)} / ({_f(prec, 4)} + {_f(rec, 4)}) = **{_f(f1, 4)}**
  (= 2TP / (2TP + FP + FN) = {2 * tp} / {2 * tp + fp + fn})

F1 is the harmonic mean, not the arithmetic one ((P + R) / 2 = {_f((prec + rec) / 2, 4)}).
"""
    return text, {"accuracy": acc, "precision": prec, "recall": rec, "f1": f1}


def attention_example() -> tuple[str, dict]:
    import torch

    torch.manual_seed(0)
    d, heads, n = 4, 2, 3
    hd = d // heads
    # one-decimal weights so that every step can be redone by hand
    x = torch.round(torch.randn(n, d) * 10) / 10 + 0.0  # + 0.0 turns −0.0 into 0.0
    wq, wk, wv, wo = (torch.round(torch.randn(d, d) * 5) / 10 + 0.0 for _ in range(4))
    q, k, v = x @ wq.T, x @ wk.T, x @ wv.T
    steps, outs, weights = [], [], []
    for h in range(heads):
        sl = slice(h * hd, (h + 1) * hd)
        scores = q[:, sl] @ k[:, sl].T / math.sqrt(hd)
        attn = torch.softmax(scores, dim=-1)
        outs.append(attn @ v[:, sl])
        weights.append(attn)
        steps.append(f"""**Head {h + 1}** (columns {sl.start + 1}-{sl.stop} of Q, K, V).
Scores Qₕ Kₕᵀ / √{hd}:
{_matrix(scores)}
Softmax over each row (attention weights; rows sum to 1):
{_matrix(attn)}
Head output = weights · Vₕ:
{_matrix(outs[-1])}
""")
    concat = torch.cat(outs, dim=1)
    y = concat @ wo.T
    mha = torch.nn.MultiheadAttention(d, heads, bias=False, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([wq, wk, wv]))
        mha.out_proj.weight.copy_(wo)
        ref, ref_w = mha(x[None], x[None], x[None], need_weights=True, average_attn_weights=False)
    diff = max((ref[0] - y).abs().max().item(), (ref_w[0] - torch.stack(weights)).abs().max().item())
    if diff > 1e-5:
        raise AssertionError(f"step-by-step attention differs from torch.nn.MultiheadAttention by {diff}")
    text = f"""## Multi-head self-attention, step by step

Scaled dot-product attention: Attention(Q, K, V) = softmax(Q Kᵀ / √d_k) V, per head; heads are
concatenated and projected by W_O. Here: 3 tokens, model width 4, 2 heads of width d_k = 2, no biases.
Inputs (rows are tokens) and weights (one decimal, `torch.manual_seed(0)`):

X =
{_matrix(x, 1)}
W_Q =
{_matrix(wq, 1)}
W_K =
{_matrix(wk, 1)}
W_V =
{_matrix(wv, 1)}
W_O =
{_matrix(wo, 1)}

Projections Q = X W_Qᵀ, K = X W_Kᵀ, V = X W_Vᵀ:

Q =
{_matrix(q)}
K =
{_matrix(k)}
V =
{_matrix(v)}

{"".join(steps)}
Concatenated heads, then the output projection, Y = concat · W_Oᵀ:
{_matrix(y)}
`torch.nn.MultiheadAttention(4, 2, bias=False)` with `in_proj_weight` = [W_Q; W_K; W_V] and
`out_proj.weight` = W_O gives the same output and per-head weights (largest difference
{"below 1e-6" if diff < 1e-6 else _f(diff, 2)}).
"""
    return text, {"output": y.tolist(), "weights": [w.tolist() for w in weights], "max_diff_vs_torch": diff}


def build() -> tuple[str, dict]:
    """The document and the computed values (for the tests)."""
    parts, values = [], {}
    for name, fn in [("mse", mse_example), ("bce", bce_example), ("optim", optimiser_example),
                     ("metrics", metrics_example), ("attention", attention_example)]:
        text, vals = fn()
        parts.append(text)
        values[name] = vals
    head = """# Worked examples

Generated by `python scripts/worked_examples.py` from torch's and scikit-learn's own functions; `tests/test_worked_examples.py` fails if this file and the libraries disagree. Do not edit by hand.
Logarithms are natural (nats). Values are rounded for print to 6 significant digits.

"""
    return head + "\n".join(parts), values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the file instead of writing it")
    parser.add_argument("--path", default=str(DOC))
    args = parser.parse_args(argv)
    text, _ = build()
    path = Path(args.path)
    if args.check:
        same = path.is_file() and path.read_text(encoding="utf-8") == text
        print(f"{path}: {'up to date' if same else 'OUT OF DATE: rerun python scripts/worked_examples.py'}")
        return 0 if same else 1
    path.write_text(text, encoding="utf-8")
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
