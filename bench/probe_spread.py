"""Linear probe spread (issue 34, item 4): why the library's probe fits spread wider than [A]'s.

On the cached features of one model (default: the Retrain of ``--seed``, forget ``--forget``,
of ``--profile``), the script fits the linear probe ``--fits`` times per variant, each fit with
its own seed (fit ``i`` uses ``seed + i * PROBE_STRIDE``, as :func:`illusion.evaluation.
probe_generators` does, so that fit 0 is the evaluation's fit 0), and prints per variant the
test forget / retain accuracy (mean, sd, min, max over the fits) and the best epochs picked.

Variants:

* ``lib``: :func:`illusion.metrics.linear_probes`, the fits batched together (as evaluated);
* ``lib_single``: the same, one call per generator (fits not batched);
* ``ref``: :func:`lib_fit` below, a single-fit transcription of the library's protocol (the
  base of the one-change-at-a-time variants; it is checked against ``lib``);
* ``ref+<change>``: ``ref`` with one change towards [A]'s code: its split orientation
  (``A_split``), an initialisation from a stream of its own (``A_init``: [A] draws it from the
  global RNG, not from the split's generator), [A]'s scripts' probe batch 128 (``bs128``),
  200 epochs with [A]'s patience 40 (``200ep_pat40``), the function's own defaults lr 0.1 /
  batch 256 (``lr0.1_bs256``), the last epoch instead of the first best one (``last``), and
  longer training (``200ep_last``); and two candidate fixes, not in [A]'s code for this
  dataset: a cosine learning-rate decay to 0 over the 20 epochs (``cosine``; [A] uses one for
  Tiny ImageNet) with the first best (``cosine``) or the last epoch (``cosine_last``);
* ``A_*``: :func:`a_fit`, a re-implementation of [A]'s ``_train_linear_probe``
  (``evaluation/linear_prob.py`` of ycgao1/CMF_Unlearning @ f575c2f) written from reading it:
  ``nn.Linear``, ``random_split`` and a shuffling ``DataLoader`` sharing one seeded generator,
  first-best held-out epoch with patience; its settings as [A] calls it for CIFAR-10
  (``A_cifar10``: lr 0.01, batch 128 from [A]'s scripts, 20 epochs, patience 40), for any other
  dataset such as its ``fmnist`` (``A_other``: 200 epochs), with the argparse default batch 64
  (``A_bs64``: the library's settings) and with the function's defaults (``A_defaults``: lr 0.1,
  batch 256, 200 epochs, patience 50).

Every fit also records its trajectory (held-out accuracy and test forget accuracy after each
epoch; the test accuracies are diagnostics, never used for selection). Results go to
``bench/results/probe_spread_<profile>.json``. The features are read from the artifact cache
(``--cache``; read only, nothing is built or written there) or from ``--features`` (a features
artifact file). One torch thread; dedicated generators, never the global RNG.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, random_split

from illusion.cache import ArtifactCache, cache_root
from illusion.evaluation import PROBE_STRIDE
from illusion.keys import feature_spec, model_spec
from illusion.metrics import linear_probes, split_mask
from illusion.profiles import get_profile

INIT_OFFSET = 7_919  # fit i's separate init stream (variant A_init, the A_* fits): seed_i + this


def read_features(root: str, profile: str, seed: int, forget: Sequence[int]) -> tuple[dict, Path]:
    """The Retrain's cached features (or the original's with ``forget`` empty), read without
    building and without writing anything under ``root`` (checksum verified here)."""
    prof = get_profile(profile)
    ms = model_spec(prof.dataset, asdict(prof.train), seed, list(forget))
    kind = "retrain" if forget else "original"
    path = ArtifactCache(root).path("features", feature_spec(ms, kind, prof.train.bf16))
    return load_file(path), path


def load_file(path: Path) -> dict:
    sidecar = path.with_suffix(".sha256")
    if not path.exists():
        raise SystemExit(f"no features at {path}: build them first (this script never builds)")
    if sidecar.exists():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if sidecar.read_text().strip() != digest:
            raise SystemExit(f"checksum mismatch for {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


def _accs(pred: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> tuple[float, float]:
    """(retain, forget) accuracy in percent."""
    ok = (pred == y).double()
    return 100.0 * ok[~m].mean().item(), 100.0 * ok[m].mean().item()


# ------------------------------------------------------------ the library, one fit at a time

def lib_fit(x, y, xt, yt, k, forget, g: torch.Generator, *, split: str = "lib",
            init_gen: torch.Generator | None = None, lr: float = 0.01, momentum: float = 0.9,
            batch_size: int = 64, epochs: int = 20, patience: int | None = None,
            select: str = "first_best", cosine: bool = False,
            val_fraction: float = 0.1) -> dict:
    """One fit of the library's protocol (:func:`illusion.metrics.linear_probes`), unbatched,
    with the switches the variants change: ``split="A"`` keeps the first n - n_val of the
    permutation for fitting (``random_split``'s order) instead of holding out the first n_val;
    ``init_gen`` draws the initialisation from another stream; ``patience`` stops after that
    many epochs without improvement; ``select="last"`` keeps the last epoch's weights;
    ``cosine`` anneals the learning rate to 0 over ``epochs`` (per epoch, as [A]'s
    ``CosineAnnealingLR(T_max=max_epochs)`` for Tiny ImageNet)."""
    n, d = x.shape
    n_val = int(val_fraction * n)
    perm = torch.randperm(n, generator=g)
    if split == "lib":
        val, fit = perm[:n_val], perm[n_val:]
    else:
        fit, val = perm[:n - n_val], perm[n - n_val:]
    bound = 1.0 / math.sqrt(d)
    gi = init_gen if init_gen is not None else g
    w = ((torch.rand(k, d, generator=gi) * 2 - 1) * bound).requires_grad_()
    b = ((torch.rand(k, generator=gi) * 2 - 1) * bound).requires_grad_()
    opt = torch.optim.SGD([w, b], lr=lr, momentum=momentum)
    mt, mv = split_mask(yt, forget), split_mask(y[val], forget)
    best, best_epoch, best_wb, stale = -1.0, 0, None, 0
    traj = []
    for epoch in range(1, epochs + 1):
        if cosine:
            for group in opt.param_groups:
                group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / epochs))
        order = fit[torch.randperm(len(fit), generator=g)]
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(x[idx] @ w.T + b, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            pv = (x[val] @ w.T + b).argmax(1)
            acc = 100.0 * (pv == y[val]).double().mean().item()
            val_forget = 100.0 * (pv[mv] == y[val][mv]).double().mean().item()
            tr, tf = _accs((xt @ w.T + b).argmax(1), yt, mt)
        traj.append({"epoch": epoch, "val": acc, "val_forget": val_forget, "test_retain": tr,
                     "test_forget": tf})
        if acc > best:
            best, best_epoch, stale = acc, epoch, 0
            best_wb = (w.detach().clone(), b.detach().clone())
        else:
            stale += 1
        if patience is not None and stale >= patience:
            break
    if select == "last":
        best_epoch, best = traj[-1]["epoch"], traj[-1]["val"]
    else:
        w, b = best_wb
    with torch.no_grad():
        tr, tf = _accs((xt @ w.T + b).argmax(1), yt, mt)
    return {"retain": tr, "forget": tf, "epoch": best_epoch, "val": best,
            "epochs_run": len(traj), "trajectory": traj}


# ------------------------------------------------------------- [A]'s protocol, re-implemented

def a_fit(x, y, xt, yt, k, forget, seed: int, init_gen: torch.Generator, *, lr: float = 0.01,
          momentum: float = 0.9, batch_size: int = 128, max_epochs: int = 20,
          patience: int = 40, val_ratio: float = 0.1) -> dict:
    """[A]'s ``_train_linear_probe`` + ``_eval_masks`` (written from reading the released code):
    ``nn.Linear(D, K)``; ``random_split`` into n - int(0.1 n) / int(0.1 n) with a generator
    seeded ``seed``, the same generator object then drives the fitting loader's shuffles; SGD
    without weight decay; after each epoch the held-out accuracy; the first epoch with the best
    held-out accuracy is kept (strict ``>``), stopping after ``patience`` epochs without
    improvement; retain / forget accuracy on the test features. [A] initialises the layer from
    the global RNG; here the same law (U(+-1/sqrt(D)) for weight and bias) from ``init_gen``."""
    n, d = x.shape
    clf = nn.Linear(d, k)
    bound = 1.0 / math.sqrt(d)
    with torch.no_grad():
        clf.weight.copy_((torch.rand(k, d, generator=init_gen) * 2 - 1) * bound)
        clf.bias.copy_((torch.rand(k, generator=init_gen) * 2 - 1) * bound)
    n_val = max(1, int(n * val_ratio))
    gen = torch.Generator().manual_seed(seed)
    ds_tr, ds_val = random_split(TensorDataset(x, y), [n - n_val, n_val], generator=gen)
    dl_tr = DataLoader(ds_tr, batch_size=batch_size, shuffle=True, generator=gen)
    val_idx = torch.as_tensor(ds_val.indices)
    xv, yv = x[val_idx], y[val_idx]
    opt = torch.optim.SGD(clf.parameters(), lr=lr, momentum=momentum, weight_decay=0.0)
    mt, mv = split_mask(yt, forget), split_mask(yv, forget)
    best, best_epoch, best_state, stale = -1.0, 0, None, 0
    traj = []
    for epoch in range(1, max_epochs + 1):
        clf.train()
        for bx, by in dl_tr:
            opt.zero_grad()
            F.cross_entropy(clf(bx), by).backward()
            opt.step()
        clf.eval()
        with torch.no_grad():
            pv = clf(xv).argmax(1)
            acc = 100.0 * (pv == yv).double().mean().item()
            val_forget = 100.0 * (pv[mv] == yv[mv]).double().mean().item()
            tr, tf = _accs(clf(xt).argmax(1), yt, mt)
        traj.append({"epoch": epoch, "val": acc, "val_forget": val_forget, "test_retain": tr,
                     "test_forget": tf})
        if acc > best:
            best, best_epoch, stale = acc, epoch, 0
            best_state = {key: v.detach().clone() for key, v in clf.state_dict().items()}
        else:
            stale += 1
        if stale >= patience:
            break
    clf.load_state_dict(best_state)
    with torch.no_grad():
        tr, tf = _accs(clf(xt).argmax(1), yt, mt)
    return {"retain": tr, "forget": tf, "epoch": best_epoch, "val": best,
            "epochs_run": len(traj), "trajectory": traj}


# ------------------------------------------------------------------------------- the runs

def rounded(obj, digits: int = 3):
    """``obj`` with every float rounded (a compact results file)."""
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {key: rounded(v, digits) for key, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v, digits) for v in obj]
    return obj


def summary(fits: list[dict]) -> dict:
    out = {}
    for key in ("forget", "retain"):
        v = [f[key] for f in fits]
        out[key] = {"mean": statistics.fmean(v), "sd": statistics.stdev(v) if len(v) > 1 else 0.0,
                    "min": min(v), "max": max(v)}
    out["epochs"] = [f["epoch"] for f in fits]
    out["val"] = [round(f["val"], 2) for f in fits]
    out["forget_per_fit"] = [round(f["forget"], 2) for f in fits]
    # how much test-forget accuracy moves along each fit's own trajectory (last 5 epochs run)
    moves = [statistics.pstdev([t["test_forget"] for t in f["trajectory"][-5:]])
             for f in fits if f.get("trajectory")]
    if moves:
        out["within_fit_sd_last5"] = statistics.fmean(moves)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--fits", type=int, default=12)
    parser.add_argument("--cache", default=None, help="artifact cache to read (default: "
                        "ILLUSION_CACHE or ./artifacts); never written")
    parser.add_argument("--features", default=None, help="a features artifact (.pt) instead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--forget", type=int, nargs="*", default=[0])
    parser.add_argument("--variants", default=None, help="comma-separated subset")
    parser.add_argument("--out", default=None)
    parser.add_argument("--from-json", default=None, metavar="JSON",
                        help="only rewrite the CSV summary from a JSON this script wrote")
    args = parser.parse_args()
    if args.from_json:
        saved = json.loads(Path(args.from_json).read_text())
        write_summary(saved["variants"], Path(args.from_json).with_suffix(".csv"))
        return
    torch.set_num_threads(1)
    if args.features:
        path = Path(args.features)
        fs = load_file(path)
    else:
        fs, path = read_features(str(args.cache or cache_root()), args.profile, args.seed,
                                 args.forget)
    x, y = fs["train"].float(), fs["train_y"].long()
    xt, yt = fs["test"].float(), fs["test_y"].long()
    k, forget = int(max(y.max(), yt.max())) + 1, list(args.forget)
    seeds = [args.seed + i * PROBE_STRIDE for i in range(args.fits)]
    gen = lambda s: torch.Generator().manual_seed(s)
    data = (x, y, xt, yt, k, forget)

    def lib_batched() -> list[dict]:
        out = linear_probes(*data, [gen(s) for s in seeds])
        return [{**{key: f[key] for key in ("retain", "forget", "epoch", "val")},
                 "trajectory": []} for f in out]

    def lib_single() -> list[dict]:
        out = [linear_probes(*data, [gen(s)])[0] for s in seeds]
        return [{**{key: f[key] for key in ("retain", "forget", "epoch", "val")},
                 "trajectory": []} for f in out]

    def ref(**kw) -> Callable[[], list[dict]]:
        init = kw.pop("sep_init", False)
        return lambda: [lib_fit(*data, gen(s), init_gen=gen(s + INIT_OFFSET) if init else None,
                                **kw) for s in seeds]

    def a(**kw) -> Callable[[], list[dict]]:
        return lambda: [a_fit(*data, s, gen(s + INIT_OFFSET), **kw) for s in seeds]

    variants = {
        "lib": lib_batched,
        "lib_single": lib_single,
        "ref": ref(),
        "ref+A_split": ref(split="A"),
        "ref+A_init": ref(sep_init=True),
        "ref+bs128": ref(batch_size=128),
        "ref+last": ref(select="last"),
        "ref+200ep_pat40": ref(epochs=200, patience=40),
        "ref+200ep_last": ref(epochs=200, select="last"),
        "ref+lr0.1_bs256": ref(lr=0.1, batch_size=256),
        "ref+cosine": ref(cosine=True),
        "ref+cosine_last": ref(cosine=True, select="last"),
        "A_bs64": a(batch_size=64, max_epochs=20, patience=40),
        "A_cifar10": a(batch_size=128, max_epochs=20, patience=40),
        "A_other": a(batch_size=128, max_epochs=200, patience=40),
        "A_defaults": a(lr=0.1, batch_size=256, max_epochs=200, patience=50),
    }
    if args.variants:
        variants = {name: variants[name] for name in args.variants.split(",")}
    results = {}
    print(f"features {path} (train {tuple(x.shape)}, test {tuple(xt.shape)}); forget {forget}; "
          f"{args.fits} fits, seeds {args.seed} + i*{PROBE_STRIDE}")
    head = (f"{'variant':17s} {'forget mean':>11s} {'sd':>5s} {'min':>5s} {'max':>5s} "
            f"{'retain mean':>11s} {'sd':>4s} {'in-fit sd':>9s} {'s':>5s}  best epochs")
    print(head)
    for name, run in variants.items():
        start = time.perf_counter()
        fits = run()
        seconds = time.perf_counter() - start
        s = summary(fits)
        results[name] = {"summary": s, "seconds": seconds, "fits": fits}
        f, r = s["forget"], s["retain"]
        print(f"{name:17s} {f['mean']:11.1f} {f['sd']:5.1f} {f['min']:5.1f} {f['max']:5.1f} "
              f"{r['mean']:11.1f} {r['sd']:4.1f} {s.get('within_fit_sd_last5', float('nan')):9.1f} "
              f"{seconds:5.1f}  {s['epochs']}", flush=True)
    if "lib" in results and "ref" in results:
        d = max(abs(p["forget"] - q["forget"]) for p, q in
                zip(results["lib"]["fits"], results["ref"]["fits"]))
        print(f"ref vs lib: largest per-fit forget difference {d:.2f} points")
    out = Path(args.out or Path(__file__).parent / "results" / f"probe_spread_{args.profile}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rounded({"features": str(path), "forget": forget,
                                       "fits": args.fits, "seeds": seeds,
                                       "init_offset": INIT_OFFSET, "variants": results}),
                              separators=(",", ":")) + "\n")
    print(f"wrote {out}")
    write_summary(results, out.with_suffix(".csv"))


def write_summary(results: dict, path: Path) -> None:
    """One row per variant (the Fidelity page shows it): test-forget and test-retain accuracy
    over the fits, mean and sd, and the forget accuracy's range."""
    rows = [{"variant": name, "fits": len(r["summary"]["forget_per_fit"]),
             "forget mean": r["summary"]["forget"]["mean"],
             "forget sd": r["summary"]["forget"]["sd"],
             "forget min": r["summary"]["forget"]["min"],
             "forget max": r["summary"]["forget"]["max"],
             "retain mean": r["summary"]["retain"]["mean"],
             "retain sd": r["summary"]["retain"]["sd"]} for name, r in results.items()]
    pd.DataFrame(rows).round(2).to_csv(path, index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
