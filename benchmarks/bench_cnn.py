"""CNN training throughput: lingbridge's loop (`fit_classifier` under Accelerate, the train_cnn recipe's
training) against a plain PyTorch loop of the same model and data, in one run.

    python benchmarks/bench_cnn.py [--epochs 3] [--batch 64] [--rounds 5] [--threads 1] [--data digits|mnist]

Same SmallCNN (28×28 input: 64·5·5 features), same images (scikit-learn's digits resized to 28×28, or
the 10,000 MNIST test images from ../shared/datasets when `--data mnist`), same batch, SGD with
momentum, no augmentation. Sides alternate for `--rounds` rounds; each round's images/s counts the
training batches only (the per-epoch test pass excluded on both sides), and the best round of each
side is compared (the median too). Target: lingbridge / plain ≥ 0.95. Uses the GPU when there is one (`--cpu` to refuse it).
Writes benchmarks/results/cnn_<device>_<data>.json.
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "datasets" / "mnist"


def load(which: str, seed: int, mnist: Path = MNIST):
    from lingbridge.vision.data import VisionDataArguments, load_images

    if which == "mnist":
        args = VisionDataArguments(train_images=str(mnist / "t10k-images-idx3-ubyte.gz"),
                                   train_labels=str(mnist / "t10k-labels-idx1-ubyte.gz"), image_size=28)
    else:
        args = VisionDataArguments(image_size=28)
    return args, load_images(args, seed=seed)


def plain(data, kwargs, epochs, batch, lr, seed, device):
    """The loop anyone would write: tensors on the device, randperm, slices."""
    import torch
    import torch.nn.functional as F

    from lingbridge.vision.models import SmallCNN

    torch.manual_seed(seed)
    model = SmallCNN(**kwargs).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    x, y = data.train_x.to(device), data.train_y.to(device)
    seen, train_s = 0, 0.0
    for _ in range(epochs):
        model.train()
        sync(device)
        t0 = time.perf_counter()
        perm = torch.randperm(len(x), device=device)
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(idx)
        sync(device)
        train_s += time.perf_counter() - t0
        model.eval()
        with torch.no_grad():
            acc = (model(data.test_x.to(device)).argmax(1) == data.test_y.to(device)).float().mean().item()
    return seen / train_s, acc


def lingbridge(data, data_args, kwargs, epochs, batch, lr, seed, accelerator):
    from lingbridge.vision.models import SmallCNN
    from lingbridge.vision.training import fit_classifier

    import torch

    torch.manual_seed(seed)  # the same initial weights as the plain side
    _, hist = fit_classifier(SmallCNN(**kwargs), data, data_args, accelerator, learning_rate=lr, epochs=epochs,
                             batch_size=batch, seed=seed)
    return hist["images"] / hist["train_s"], hist["epochs"][-1]["test_accuracy"]


def sync(device):
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: stable on a shared machine)")
    parser.add_argument("--data", choices=["digits", "mnist"], default="digits")
    parser.add_argument("--mnist_dir", default=str(MNIST), help="folder with the t10k IDX files")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--cpu", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch
    from accelerate import Accelerator

    torch.set_num_threads(args.threads)
    accelerator = Accelerator(cpu=args.cpu)
    device = accelerator.device
    data_args, data = load(args.data, 42, Path(args.mnist_dir))
    mean, std = data.train_x.mean((0, 2, 3)).tolist(), data.train_x.std((0, 2, 3)).tolist()
    kwargs = dict(channels=1, image_size=28, num_classes=len(data.label_names), mean=mean, std=std)
    plain(data, kwargs, 1, args.batch, args.lr, 0, device)  # warm-up (allocator, kernels) for both sides
    rows = {"plain": [], "lingbridge": []}
    accs = {}
    for r in range(args.rounds):
        for side in (["plain", "lingbridge"] if r % 2 == 0 else ["lingbridge", "plain"]):
            if side == "plain":
                ips, acc = plain(data, kwargs, args.epochs, args.batch, args.lr, 42, device)
            else:
                ips, acc = lingbridge(data, data_args, kwargs, args.epochs, args.batch, args.lr, 42, accelerator)
            rows[side].append(ips)
            accs[side] = acc
            print(f"round {r + 1} {side:<10} {ips:10.1f} images/s  test accuracy {acc:.4f}", flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    best = {k: max(v) for k, v in rows.items()}  # the least disturbed round: other jobs only ever slow a side down
    ratio, ratio_med = best["lingbridge"] / best["plain"], med["lingbridge"] / med["plain"]
    where = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {args.threads} thread(s)"
    result = {"data": f"{args.data}: {len(data.train_y)} train images 28×28", "device": where, "epochs": args.epochs,
              "batch": args.batch, "rounds": args.rounds, "images_per_s": rows, "median": med, "best": best,
              "ratio_lingbridge_over_plain": round(ratio, 3), "ratio_of_medians": round(ratio_med, 3), "test_accuracy": accs, "target": 0.95,
              "torch": torch.__version__}
    print(f"\n{where}: best round plain {best['plain']:.0f} images/s, lingbridge {best['lingbridge']:.0f} images/s, "
          f"ratio {ratio:.3f} (target ≥ 0.95); ratio of medians {ratio_med:.3f}")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    name = f"cnn_{device.type}_{args.data}.json"
    (out / name).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
