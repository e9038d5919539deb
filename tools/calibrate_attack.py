"""Calibrate the relearning attack's learning rate on the validation split (claim C5).

Runs :func:`illusion.attacks.calibrate_attack` on the Retrain model of the profile's first
(seed, forget set) cell, trained or loaded from the artifact cache, prints the table and writes
it to ``tuning/attack_<profile>.csv``. The chosen rate goes into
``attack_lr`` of the profile (illusion.profiles) by hand, with the CSV beside it in the same commit, so that the
choice is reviewed and versioned like the methods' tuned hyperparameters::

    .venv/bin/python tools/calibrate_attack.py --profile cpu
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from illusion.attack_config import CALIBRATION_LRS
from illusion.attacks import calibrate_attack
from illusion.book import grid_cells
from illusion.pipeline import unlearn_or_load
from illusion.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=list(PROFILES))
    parser.add_argument("--out", type=Path, default=None,
                        help="CSV to write (default: tuning/attack_<profile>.csv)")
    args = parser.parse_args(argv)
    seed, forget = grid_cells(args.profile)[0]
    retrain = unlearn_or_load(None, args.profile, seed, forget, "retrain")
    table = calibrate_attack(retrain, CALIBRATION_LRS, seed=seed)
    out = args.out or ROOT / "tuning" / f"attack_{args.profile}.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.assign(profile=args.profile, seed=seed,
                 forget="+".join(map(str, forget))).to_csv(out, index=False)
    print(table.to_string(index=False))
    print(f"chosen lr {table.loc[table['chosen'], 'lr'].item():g} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
