"""Tune unlearning hyperparameters on the validation split (never on test).

For each method, every learning rate of the grid is run through the artifact cache
(``unlearn_or_load``) and scored on the **validation** images carved from the training set:
accuracy on the retained classes and on the forgotten class(es). Two rules, each fixed in
advance (``--rule``):

- ``forget`` (the nine baselines): mirrors what Retrain achieves (0% on forgotten classes):
  among settings with validation-forget accuracy at most ``--forget-max`` percent, take the one
  with the highest validation-retain accuracy; if none qualifies, take the lowest
  validation-forget accuracy.
- ``cmf`` (the ``+cmf`` methods, issue 13): trades forgetting against retain accuracy. Among
  settings whose validation-retain accuracy is within ``--retain-slack`` (3) points of the **CMF
  original's** validation-retain accuracy, take the lowest validation-forget accuracy (ties: the
  higher validation retain, then the smaller learning rate); if none qualifies, take the highest
  validation retain and say so. The grid starts at [A]'s single-class value (the ``paper``
  profile's entry) and goes up in half-decades (×√10): ``--from-paper N`` runs [A]'s value ×
  10^(k/2) for k = 0..N-1 (three significant digits). A choice at either edge of the grid
  widens it by one more half-decade on that side and re-runs, at most ``--widen`` times.
  Since issue 25 the choice must also be *robust*: the next larger learning rate of the grid
  keeps val retain within the slack too (:func:`choose_cmf`), so that a choice never sits one
  half-decade below a collapse (SCRUB+CMF's 0.5 did: 1.58 fell to 59% retain).
  Learning rates that [A] ties to ``lr`` move with it at [A]'s ratio (UNSIR's ``impair_lr``).

Results go to ``tuning/<profile>.csv`` (rows of methods not named in the run are kept, so
methods with different grids can be tuned in separate runs); the chosen values are printed as
TOML lines for ``src/illusion/methods/hparams.toml``. ``--threads`` sets torch's thread count
(1 for two tuning processes side by side on two cores; the cache keeps whichever run of an
artifact finished first).
"""

from __future__ import annotations

import argparse
import fcntl
import math
import sys
import tempfile
from pathlib import Path

import pandas as pd
import torch

from illusion.methods import hparams_for, tuned_by
from illusion.pipeline import cmf_original_or_load, train_or_load, unlearn_or_load
from illusion.train import evaluate_accuracy

ROOT = Path(__file__).resolve().parents[1]
LINKED_LRS = ("impair_lr",)  # learning rates that move with ``lr`` at [A]'s ratio


def score(tm, forget: list[int]) -> dict:
    """Validation accuracy (percent) on retained and forgotten classes."""
    d, val = tm.data, tm.splits.val
    mask = torch.isin(d.y_train[val], torch.tensor(forget))
    acc = lambda idx: evaluate_accuracy(tm.model, d, d.x_train[idx], d.y_train[idx])  # noqa: E731
    return {"val_retain": acc(val[~mask]), "val_forget": acc(val[mask])}


def choose(rows: pd.DataFrame, forget_max: float) -> pd.Series:
    """Rule ``forget``: val forget <= ``forget_max``, then max val retain; else min val forget."""
    ok = rows[rows["val_forget"] <= forget_max]
    return ok.loc[ok["val_retain"].idxmax()] if len(ok) else rows.loc[rows["val_forget"].idxmin()]


def choose_cmf(rows: pd.DataFrame, ref_retain: float, slack: float = 3.0,
               robust: bool = True) -> tuple[pd.Series, bool]:
    """Rule ``cmf``: ``(row, qualified)``, the lowest val forget among rows with val retain >=
    ``ref_retain - slack`` (ties: higher val retain, then smaller lr); when no row qualifies,
    the highest val retain (``qualified`` False).

    ``robust`` (issue 25, fixed before the re-tune on the current original): a row qualifies
    only when the next larger learning rate of the grid also keeps val retain within the
    slack, so the choice never sits one step below a collapse of retain accuracy (the largest
    learning rate run has no known neighbour and never qualifies; :func:`tune_cmf` runs the
    neighbour of a choice at the grid's top). When no row is robust, the plain rule decides."""
    rows = rows.sort_values("lr").reset_index(drop=True)
    keeps = rows["val_retain"] >= ref_retain - slack
    ok = rows[keeps & keeps.shift(-1, fill_value=False)] if robust else rows[keeps]
    if robust and not len(ok):
        return choose_cmf(rows, ref_retain, slack, robust=False)
    if len(ok):
        return ok.sort_values(["val_forget", "val_retain", "lr"],
                              ascending=[True, False, True]).iloc[0], True
    return rows.sort_values(["val_retain", "lr"], ascending=[False, True]).iloc[0], False


def half_decade(base: float, k: int) -> float:
    """``base`` × 10^(k/2) to three significant digits."""
    return float(f"{base * 10 ** (k / 2):.3g}")


def paper_grid(method: str, n: int) -> dict[int, float]:
    """Step k -> learning rate, for k = 0..n-1 from [A]'s single-class value."""
    return {k: half_decade(hparams_for(method, "paper")["lr"], k) for k in range(n)}


def trial_hparams(method: str, profile: str, lr: float) -> dict:
    """The profile's entry with ``lr``; linked learning rates keep [A]'s ratio to ``lr``."""
    hp, paper = {**hparams_for(method, profile), "lr": lr}, hparams_for(method, "paper")
    for key in LINKED_LRS:
        if key in paper:
            hp[key] = float(f"{lr * paper[key] / paper['lr']:.3g}")
    return hp


def run_trial(method: str, lr: float, args) -> dict:
    hp = trial_hparams(method, args.profile, lr)
    tm = unlearn_or_load(None, args.profile, args.seed, args.forget, method, hp, progress=False)
    row = {"method": method, "lr": lr, "epochs": hp.get("epochs"), "seconds": tm.seconds,
           **score(tm, args.forget), "rule": args.rule,
           **{k: hp[k] for k in LINKED_LRS if k in hp}}
    print(f"{method:<18} lr {lr:<9g} {row['val_retain']:6.2f} / {row['val_forget']:6.2f} "
          f"(val retain / forget)", flush=True)
    return row


def cmf_reference(args) -> float:
    """Validation-retain accuracy of the CMF original (the rule's reference)."""
    original = train_or_load(None, args.profile, args.seed, (), progress=False)
    return score(cmf_original_or_load(original, args.profile, progress=False),
                 args.forget)["val_retain"]


def tune_cmf(method: str, args, ref: float) -> list[dict]:
    """Run [A]'s grid for ``method``, widening at an edge choice of the plain rule ``cmf``;
    then, when the plain choice is the largest learning rate run, one more half-decade (the
    cliff check the robust rule needs, even past ``--widen``)."""
    lr_of = lambda k: half_decade(hparams_for(method, "paper")["lr"], k)  # noqa: E731
    rows = {k: run_trial(method, lr, args) for k, lr in paper_grid(method, args.from_paper).items()}

    def plain_k() -> int:
        best, _ = choose_cmf(pd.DataFrame(rows.values()), ref, args.retain_slack, robust=False)
        return next(k for k, r in rows.items() if r["lr"] == best["lr"])

    for widened in range(args.widen + 1):
        k = plain_k()
        if k not in (min(rows), max(rows)):
            break
        if widened == args.widen:
            print(f"{method}: choice still at the grid's edge after {args.widen} widenings",
                  flush=True)
            break
        new = k - 1 if k == min(rows) else k + 1
        rows[new] = run_trial(method, lr_of(new), args)
    if plain_k() == max(rows):  # its neighbour above is unknown: run it
        rows[max(rows) + 1] = run_trial(method, lr_of(max(rows) + 1), args)
    return [rows[k] for k in sorted(rows)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--forget", type=int, nargs="+", default=[0])
    parser.add_argument("--methods", nargs="+", default=None,
                        help="default: the methods that declare this rule (Method.tuning)")
    parser.add_argument("--rule", choices=("forget", "cmf"), default="forget")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2, 3e-2],
                        help="rule forget: the learning-rate grid")
    parser.add_argument("--forget-max", type=float, default=5.0)
    parser.add_argument("--retain-slack", type=float, default=3.0)
    parser.add_argument("--from-paper", type=int, default=5,
                        help="rule cmf: half-decade steps up from [A]'s value")
    parser.add_argument("--widen", type=int, default=3,
                        help="rule cmf: at most this many extra half-decades at an edge")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    ref = cmf_reference(args) if args.rule == "cmf" else math.nan
    if args.rule == "cmf":
        print(f"CMF original: val retain {ref:.2f} (rule: val retain >= {ref - args.retain_slack:.2f})",
              flush=True)
    rows = []
    args.methods = args.methods or tuned_by(args.rule)
    for method in args.methods:
        if args.rule == "cmf":
            rows += [{**r, "ref_val_retain": ref} for r in tune_cmf(method, args, ref)]
        else:
            rows += [run_trial(method, lr, args) for lr in args.lrs]
    out = ROOT / "tuning" / f"{args.profile}.csv"
    out.parent.mkdir(exist_ok=True)
    lock_path = Path(tempfile.gettempdir()) / f"illusion-tune-{args.profile}.lock"
    with open(lock_path, "w") as lock:  # two tuning processes may end together
        fcntl.flock(lock, fcntl.LOCK_EX)
        table = pd.DataFrame(rows)
        if out.exists():  # keep earlier results of the methods not re-tuned in this run
            old = pd.read_csv(out)
            table = pd.concat([old[~old["method"].isin(args.methods)], table],
                              ignore_index=True)
        table.to_csv(out, index=False)
    print(f"\nwrote {out}\nchosen:")
    for method, group in table[table["method"].isin(args.methods)].groupby("method", sort=False):
        if args.rule == "cmf":
            best, ok = choose_cmf(group, ref, args.retain_slack)
            note = "" if ok else " (no lr keeps val retain within the slack)"
        else:
            best, note = choose(group, args.forget_max), ""
        print(f"{method} lr = {best['lr']:g}  # val retain {best['val_retain']:.2f}, "
              f"val forget {best['val_forget']:.2f}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
