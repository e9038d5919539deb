"""Tune unlearning hyperparameters on the validation split (never on test).

For each method, every learning rate of the grid is run through the artifact cache
(``unlearn_or_load``) and scored on the **validation** images carved from the training set:
accuracy on the retained classes and on the forgotten class(es). The rule, fixed in advance,
mirrors what Retrain achieves (0% on forgotten classes): among settings with validation-forget
accuracy at most ``--forget-max`` percent, take the one with the highest validation-retain
accuracy; if none qualifies, take the lowest validation-forget accuracy. Results go to
``tuning/<profile>.csv`` (rows of methods not named in the run are kept, so methods with
different learning-rate grids can be tuned in separate runs); the chosen values are printed as TOML lines for
``src/illusion/methods/hparams.toml``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import torch

from illusion.methods import hparams_for
from illusion.pipeline import unlearn_or_load
from illusion.train import evaluate_accuracy

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_METHODS = ["finetune", "grad_ascent", "random_label", "neggrad_plus", "scrub", "unsir",
                   "salun", "l1_sparse", "boundary_shrink"]


def score(tm, forget: list[int]) -> dict:
    """Validation accuracy (percent) on retained and forgotten classes."""
    d, val = tm.data, tm.splits.val
    mask = torch.isin(d.y_train[val], torch.tensor(forget))
    acc = lambda idx: evaluate_accuracy(tm.model, d, d.x_train[idx], d.y_train[idx])  # noqa: E731
    return {"val_retain": acc(val[~mask]), "val_forget": acc(val[mask])}


def choose(rows: pd.DataFrame, forget_max: float) -> pd.Series:
    ok = rows[rows["val_forget"] <= forget_max]
    return ok.loc[ok["val_retain"].idxmax()] if len(ok) else rows.loc[rows["val_forget"].idxmin()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--forget", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS)
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2, 3e-2])
    parser.add_argument("--forget-max", type=float, default=5.0)
    args = parser.parse_args(argv)
    rows = []
    for method in args.methods:
        for lr in args.lrs:
            hp = {**hparams_for(method, args.profile), "lr": lr}
            tm = unlearn_or_load(None, args.profile, args.seed, args.forget, method, hp,
                                 progress=False)
            rows.append({"method": method, "lr": lr, "epochs": hp.get("epochs"),
                         "seconds": tm.seconds, **score(tm, args.forget)})
            print(f"{method:<16} lr {lr:<7g} {rows[-1]['val_retain']:6.2f} / "
                  f"{rows[-1]['val_forget']:6.2f} (val retain / forget)", flush=True)
    table = pd.DataFrame(rows)
    out = ROOT / "tuning" / f"{args.profile}.csv"
    out.parent.mkdir(exist_ok=True)
    if out.exists():  # keep earlier results of the methods not re-tuned in this run
        old = pd.read_csv(out)
        table = pd.concat([old[~old["method"].isin(args.methods)], table], ignore_index=True)
    table.to_csv(out, index=False)
    print(f"\nwrote {out}\nchosen (rule: val forget <= {args.forget_max}%, then max val retain):")
    for method, group in table.groupby("method", sort=False):
        best = choose(group, args.forget_max)
        print(f"{method} lr = {best['lr']:g}  # val retain {best['val_retain']:.2f}, "
              f"val forget {best['val_forget']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
