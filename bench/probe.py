"""Linear probe: the project's full-batch L-BFGS probe vs [A]'s minibatch-SGD protocol.

Both probes fit one linear layer with bias (softmax cross-entropy) on the *same* frozen features
of the original model (training split, all classes, true labels), standardised with the
training features' mean and standard deviation, hold out the same 10% of the training features
(same generator) and train on the other 90%, and report test accuracy on the retain and forget
classes:

* project: :func:`illusion.metrics.linear_probe` — cross-entropy plus L2 1e-2 on the weights,
  minimised by full-batch L-BFGS (scipy's L-BFGS-B, analytic gradient in float32 NumPy, one
  BLAS thread) from zero until no gradient entry exceeds 3e-5; no refit (with a grid of L2
  values the held-out accuracy would select one);
* reference: :func:`sgd_probe` below, [A]'s protocol — ``nn.Linear`` trained by minibatch SGD
  (lr 0.01, momentum 0.9, batch 128, 20 epochs, no weight decay) on the other 90%; the
  held-out split selects the best epoch, whose weights are reported.

After an untimed warm-up call of each, the two run in alternating rounds (SGD, L-BFGS, SGD,
...) so that machine noise hits both; the script prints the seconds of every round, the
medians, their ratio (SGD time / L-BFGS time, i.e. the project's speed-up; target >= 10x), the
same for process CPU time (all threads: a helper thread left spinning would show here) and the
test-accuracy difference in points, L-BFGS minus SGD, on retain and forget (target
|diff| <= 1 point). Neither probe touches the global RNGs (checked).

Both run with ``--threads`` torch threads (default 1): the SGD reference is never slower that
way (its tensors are tiny; on a shared 2-core machine a second intra-op thread made it up to
5x slower while the other core was busy), so the ratio is taken against the reference at its
best. ``--threads 0`` keeps torch's default.

Features come from the real pipeline (``train_or_load`` + ``feature_set``). The default
``--profile smoke`` is a quick plumbing check (a tiny, barely trained model: the numbers mean
little); ``--profile cpu`` is the meaningful comparison — it trains the ``cpu`` original model,
or loads it from the artifact cache (about 2 minutes cold on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from illusion.features import feature_set
from illusion.metrics import linear_probe, split_mask
from illusion.pipeline import train_or_load


def _acc(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float("nan") if len(y) == 0 else 100.0 * (pred == y).double().mean().item()


def sgd_probe(train_f: torch.Tensor, train_y: torch.Tensor, test_f: torch.Tensor,
              test_y: torch.Tensor, num_classes: int, forget: Sequence[int] = (),
              generator: torch.Generator | None = None, val_fraction: float = 0.1,
              lr: float = 0.01, momentum: float = 0.9, batch_size: int = 128,
              epochs: int = 20) -> dict:
    """[A]'s probe: ``nn.Linear`` (with bias) by minibatch SGD on standardised features; the
    epoch with the best held-out accuracy is reported on the test features (retain / forget /
    all, percent; ``"epoch"`` is the selected epoch, 1-based). The held-out split, the
    initialisation and the shuffling all draw from ``generator``; the global RNG is untouched.
    """
    g = generator if generator is not None else torch.Generator().manual_seed(0)
    mu, sd = train_f.mean(0), train_f.std(0).clamp_min(1e-6)  # same as linear_probe
    xs, xt = (train_f - mu) / sd, (test_f - mu) / sd
    perm = torch.randperm(len(train_y), generator=g)
    n_val = int(round(val_fraction * len(train_y)))
    val, fit = perm[:n_val], perm[n_val:]
    x_fit, y_fit, x_val, y_val = xs[fit], train_y[fit], xs[val], train_y[val]

    with torch.random.fork_rng(devices=[]):  # nn.Linear's default init, seeded from g
        torch.manual_seed(int(torch.randint(2 ** 62, (1,), generator=g)))
        head = nn.Linear(xs.shape[1], num_classes)
    opt = torch.optim.SGD(head.parameters(), lr=lr, momentum=momentum)
    best_acc, best_state, best_epoch = -1.0, None, 0
    for epoch in range(epochs):
        order = torch.randperm(len(y_fit), generator=g)
        for start in range(0, len(order), batch_size):
            b = order[start:start + batch_size]
            loss = F.cross_entropy(head(x_fit[b]), y_fit[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            acc = _acc(head(x_val).argmax(1), y_val) if n_val else 0.0
        if acc > best_acc:  # first best epoch wins ties
            best_acc, best_epoch = acc, epoch + 1
            best_state = {k: v.detach().clone() for k, v in head.state_dict().items()}
    head.load_state_dict(best_state)
    with torch.no_grad():
        pred = head(xt).argmax(1)
    m = split_mask(test_y, forget)
    return {"all": _acc(pred, test_y), "retain": _acc(pred[~m], test_y[~m]),
            "forget": _acc(pred[m], test_y[m]), "epoch": best_epoch}


def _timed(fn, *args, **kwargs):
    """(wall seconds, process CPU seconds, result) of one call, checking that the global RNGs
    are left alone. The CPU time counts every thread of the process, so work hidden in extra
    threads (a BLAS pool, say) shows up as CPU time above the wall time."""
    torch_state, np_state = torch.random.get_rng_state(), np.random.get_state()
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert torch.equal(torch.random.get_rng_state(), torch_state), "global torch RNG touched"
    assert np.array_equal(np.random.get_state()[1], np_state[1]), "global numpy RNG touched"
    return seconds, cpu, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke",
                        help="smoke (default, quick plumbing check) or cpu (the meaningful one)")
    parser.add_argument("--forget", type=int, default=0, help="forget class (default 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both probes (default 1; 0 keeps torch's default)")
    args = parser.parse_args()

    start = time.perf_counter()
    tm = train_or_load(profile=args.profile, seed=args.seed, progress=False)
    fs = feature_set(tm.model, tm.data, tm.splits.train)
    k, forget = tm.data.num_classes, [args.forget]
    print(f"features: profile {args.profile}, train {tuple(fs.train.shape)}, "
          f"test {tuple(fs.test.shape)}, forget class {args.forget}, "
          f"model {'loaded' if tm.cached else 'trained'} "
          f"({time.perf_counter() - start:.1f} s incl. extraction)")
    data = (fs.train, fs.train_y, fs.test, fs.test_y, k, forget)
    if args.threads > 0:  # after training / extraction, which keep torch's default
        torch.set_num_threads(args.threads)

    sgd_probe(*data, epochs=1)  # warm-up (first-call overheads), not timed
    linear_probe(*data, max_iter=5)
    sgd_t, lbfgs_t, sgd_c, lbfgs_c = [], [], [], []
    for r in range(args.rounds):
        t, c, sgd = _timed(sgd_probe, *data, generator=torch.Generator().manual_seed(args.seed))
        sgd_t.append(t)
        sgd_c.append(c)
        t, c, lbfgs = _timed(linear_probe, *data,
                             generator=torch.Generator().manual_seed(args.seed))
        lbfgs_t.append(t)
        lbfgs_c.append(c)
        print(f"round {r + 1}: sgd {sgd_t[-1]:7.3f} s (cpu {sgd_c[-1]:.3f})   "
              f"lbfgs {lbfgs_t[-1]:7.3f} s (cpu {lbfgs_c[-1]:.3f})")
    s, l = statistics.median(sgd_t), statistics.median(lbfgs_t)
    ratio = s / l
    print(f"median: sgd {s:.3f} s, lbfgs {l:.3f} s, ratio (sgd / lbfgs) {ratio:.2f}x "
          f"(target >= 10x: {'met' if ratio >= 10 else 'NOT met'}; "
          f"{torch.get_num_threads()} threads)")
    sc, lc = statistics.median(sgd_c), statistics.median(lbfgs_c)
    print(f"median cpu: sgd {sc:.3f} s, lbfgs {lc:.3f} s, ratio {sc / lc:.2f}x")
    print(f"sgd   test accuracy: retain {sgd['retain']:.2f}  forget {sgd['forget']:.2f}  "
          f"all {sgd['all']:.2f}  (best epoch {sgd['epoch']})")
    print(f"lbfgs test accuracy: retain {lbfgs['retain']:.2f}  forget {lbfgs['forget']:.2f}  "
          f"all {lbfgs['all']:.2f}  (l2 {lbfgs['l2']:g})")
    diffs = {key: lbfgs[key] - sgd[key] for key in ("retain", "forget")}
    ok = all(abs(d) <= 1 for d in diffs.values())
    print(f"difference (lbfgs - sgd): retain {diffs['retain']:+.2f} points, "
          f"forget {diffs['forget']:+.2f} points (target |diff| <= 1: {'met' if ok else 'NOT met'})")


if __name__ == "__main__":
    main()
