"""What a sweep grid costs, counted from its recipe in image passes (nothing is trained).

For every cell of a grid (:func:`illusion.gridfile.load_grid`) the script counts the images the
sweep would push through a network, following the code that runs the cell:

* original and Retrain: the profile's ``TrainConfig`` (per-class subset, validation hold-out,
  epochs): per epoch one training pass over the training split (Retrain: the retained classes),
  the validation accuracy and the NC1-NC4 tracker (forward only);
* an unlearning method: its own cost model, declared in its file (``Method.work``, from the
  pieces of :mod:`illusion.methods.work`), at its hyperparameters (the profile's section of
  ``methods/hparams.toml`` over the method's defaults, then the grid entry's overrides); a
  ``+cmf`` method also shares the "CMF original" fine-tune of its (dataset, profile, seed);
* evaluation: one feature pass over the training split and the test set per distinct model
  (the sweep caches features, so the original is evaluated once per seed, not once per forget
  set), plus the extras' passes (per-stage features, relearning attacks).

Units are :mod:`illusion.methods.work`'s (1 unit = one training image forward and backward
through the trained network; a forward-only image = 1/3 unit). Sizes:
fashion_mnist 60000/10000 images (10 classes), cifar10 50000/10000 (10), cifar100
50000/10000 (100), classes balanced, so a forget class is 1/K of every split.

Projections: ``--throughput IMG_PER_S`` (forward+backward images/s of the grid's model on the
target GPU, supplied by the reader) turns units into GPU-hours as ``units / throughput``; the
script never measures a GPU. ``--calibrate CSV`` (a sweep's tidy results,
``illusion.sweep.write_results``) fits seconds per unit from the measured ``seconds`` column
(training / unlearning time) of a CPU sweep, prints predicted units against measured seconds
per method, and projects CPU-hours for the grid: units x that fit x the ratio of the
per-image training-step time of the grid's model to the calibration profile's model (and,
second, with each method's own measured seconds per unit). The ratio is timed here on one CPU
thread (ResNet-18 at each profile's width, input size, batch size, augmentation and
precision; a few steps each, in alternating rounds), printed beside the ratio of forward
multiply-adds; the timed step alone also gives a floor of CPU-hours without sweep overhead.

Limits: the training of the original and of Retrain is counted at the profile's ``epochs``;
with early stopping (``paper``: 300 epochs, patience 30) that is an **upper bound**. Data
movement, augmentation, optimizer and the metrics computed on features (probes, k-NN, MIA,
NC) are not image passes and are not counted; nor are the small auxiliary heads of EC
(their conv layers' own compute) or a classifier-only backward. GPU-hours assume a sustained
throughput over the whole grid (no idle workers, no data stalls).

    python -m illusion.cost grids/paper_cifar10.yaml grids/paper_cifar100.yaml \
        --calibrate "$ILLUSION_CACHE/sweeps/cpu.csv" --throughput IMG_PER_S
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .attack_config import default_attacks
from .rows import MODELS, STAGE_EXTRAS, Row, Grid
from .data import augment_batch
from .gridfile import load_grid
from .methods import create_method, hparams_for, parse_method_name, resolve_method
from .methods.cmf import cmf_finetune
from .methods.work import Sizes, Work, cycled, passes
from .models import create_model
from .profiles import get_profile
from .train import TrainConfig

__all__ = ["DATASETS", "calibrate", "row_items", "cmf_original_work", "cost_table",
           "grid_items", "main", "method_work", "relearn_work", "split_sizes", "training_work"]

# name -> (train images, test images, classes, channels, side)
DATASETS = {"fashion_mnist": (60000, 10000, 10, 1, 28), "cifar10": (50000, 10000, 10, 3, 32),
            "cifar100": (50000, 10000, 100, 3, 32)}


# --------------------------------------------------------------------------- counting

def split_sizes(dataset: str, cfg: TrainConfig, forget_classes: int) -> Sizes:
    """The sizes :func:`illusion.pipeline.make_splits` gives a balanced dataset: ``per_class``
    images per class (all when ``None``), ``round(val_fraction · n)`` of them held out."""
    if dataset not in DATASETS:
        raise ValueError(f"no sizes for dataset {dataset!r}; known: {', '.join(DATASETS)}")
    n_train, n_test, k = DATASETS[dataset][:3]
    per_class = n_train // k if cfg.per_class is None else min(cfg.per_class, n_train // k)
    n_val = int(round(cfg.val_fraction * per_class))
    nc = min(cfg.nc_per_class, per_class - n_val) if k - forget_classes >= 2 else 0
    return Sizes(k, forget_classes, per_class - n_val, n_val, n_test // k, max(nc, 0))


def training_work(cfg: TrainConfig, s: Sizes) -> Work:
    """:func:`illusion.train.fit` on the retained classes at ``cfg.epochs`` (with
    ``cfg.patience`` an upper bound): the training pass, validation and the NC tracker."""
    checks = s.val_retain + s.retained_classes * s.nc_per_class  # forward, every epoch
    return Work(train=cfg.epochs * s.retain, forward=cfg.epochs * checks,
                steps=cfg.epochs * math.ceil(s.retain / cfg.batch_size))


def method_work(method: str, hp: dict, s: Sizes) -> Work:
    """The work of unlearning with ``method`` (a registered name) and its full ``hp``: the
    method's own cost model (``Method.work``, in its file)."""
    return create_method(method, **hp).work(s)


def cell_hparams(cell: Row) -> dict:
    """The cell's full hyperparameters, as the sweep builds its method."""
    return resolve_method(cell.method, cell.profile, cell.hparams, len(cell.forget),
                          cell.dataset).hp


def cmf_original_work(profile: str, s: Sizes) -> Work:
    """[A]'s CMF fine-tune (:func:`illusion.pipeline.cmf_original_or_load`): the conversion's
    class-mean pass, then per epoch a pass over the whole training split and a refit."""
    hp = cmf_finetune(**hparams_for("cmf_finetune", profile)).hp
    return Work(forward=s.train) + passes(hp, s.train) + Work(forward=hp["epochs"] * s.train)


def relearn_work(s: Sizes) -> Work:
    """The ``relearn`` extra: every default attack's fine-tuning steps and its evaluations."""
    total = Work()
    for cfg in default_attacks().values():
        n_f = max(1, round(cfg.fraction * s.forget))
        n = min(s.retain, round(cfg.retain_ratio * n_f)) + (n_f if cfg.include_forget else 0)
        points = 1 + len({t for t in range(1, cfg.steps + 1)
                          if t % cfg.eval_every == 0 or t == cfg.steps})
        evals = points * (min(cfg.eval_images, s.test_forget) + min(cfg.eval_images, s.test_retain))
        total = total + Work(train=cycled(n, min(cfg.batch_size, n), cfg.steps), forward=evals)
    return total


# ------------------------------------------------------------------------ a grid's cost

@dataclass(frozen=True)
class Item:
    """One piece of work; pieces with the same ``key`` are done once per sweep (cached)."""

    key: tuple
    label: str  # the row of the cost table it is charged to
    phase: str  # "train" (training / unlearning: what a row's ``seconds`` measures) or "eval"
    work: Work = field(compare=False)


def row_items(cell: Row, extras: Sequence[str] = ()) -> list[Item]:
    """The work a sweep does for the row ``cell`` (before de-duplication across rows)."""
    p = get_profile(cell.profile)
    s = split_sizes(cell.dataset, p.train, len(cell.forget))
    group = (cell.dataset, cell.profile, cell.seed)
    original = ("original", *group)
    features = Work(forward=s.train + s.test)  # the training split (every class) + test
    if cell.method == "original":
        model = original
        items = [Item(("train", *model), "original", "train",
                      training_work(p.train, split_sizes(cell.dataset, p.train, 0)))]
    elif cell.method == "cmf_original":  # a model row: the CMF original, evaluated
        model = ("cmf_original", *group)
        items = [Item(("train", *model), "cmf_original", "train",
                      cmf_original_work(cell.profile, s))]
    elif cell.method == "retrain":
        model = ("retrain", *group, cell.forget)
        items = [Item(("train", *model), cell.label, "train", training_work(p.train, s))]
    else:
        hp = cell_hparams(cell)
        model = ("unlearned", *group, cell.forget, cell.method,
                 json.dumps(hp, sort_keys=True, default=str))
        items = [Item(("train", *model), cell.label, "train", method_work(cell.method, hp, s))]
        if create_method(cell.method, **hp).start_from == "cmf_original":
            items.append(Item(("train", "cmf_original", *group), "cmf_original", "train",
                              cmf_original_work(cell.profile, s)))
    wanted = {*extras, *cell.extras}
    variant, _ = parse_method_name(cell.method)
    cmf_model = cell.method == "cmf_original" or (
        variant is not None and variant.pattern == "{}+cmf")  # the neck is not the identity
    if wanted & STAGE_EXTRAS:  # per-stage features first; the head features reuse them
        items.append(Item(("stage_features", *model), cell.label, "eval", features))
        features = features if cmf_model else Work()
    items.append(Item(("features", *model), cell.label, "eval", features))
    if "stage_cka" in wanted:  # against the original's per-stage features
        items.append(Item(("stage_features", *original), "original", "eval",
                          Work(forward=s.train + s.test)))
    if "relearn" in wanted and cell.method not in MODELS:
        items.append(Item(("relearn", *model), cell.label, "eval", relearn_work(s)))
    return items


def grid_items(grid: Grid) -> list[tuple[int, Item]]:
    """``(cell index, item)`` of every piece of work of the grid, each key once (charged to
    the first cell that needs it)."""
    seen, out = set(), []
    for i, cell in enumerate(grid.rows):
        for item in row_items(cell, grid.extras):
            if item.key not in seen:
                seen.add(item.key)
                out.append((i, item))
    return out


def cost_table(grid: Grid) -> pd.DataFrame:
    """Units per label (``rows``, ``train``, ``eval``, ``total``, ``share``), grid order;
    ``cmf_original`` is the shared CMF fine-tune of the ``+cmf`` methods."""
    n_rows = pd.Series([c.label for c in grid.rows]).value_counts()
    rows = [{"label": item.label, "phase": item.phase, "units": item.work.units}
            for _, item in grid_items(grid)]
    table = pd.DataFrame(rows).pivot_table(index="label", columns="phase", values="units",
                                           aggfunc="sum", fill_value=0.0, sort=False)
    table = table.reindex(columns=["train", "eval"], fill_value=0.0)
    table.insert(0, "rows", n_rows.reindex(table.index).fillna(0).astype(int))
    table["total"] = table["train"] + table["eval"]
    table["share"] = table["total"] / table["total"].sum()
    return table


# ---------------------------------------------------------------------------- calibration

def calibration_rows(results: pd.DataFrame, grid: Grid | None) -> list[Row]:
    """The grid rows behind a sweep's results: the grid's row of the same identity when
    ``grid`` is given (its hyperparameter overrides), else the row's base method with the
    profile's."""
    known = {(c.dataset, c.profile, c.seed, "+".join(map(str, c.forget)), c.label): c
             for c in (grid.rows if grid is not None else ())}
    cells = []
    for r in results.itertuples():
        forget = tuple(int(c) for c in str(r.forget).split("+"))
        cell = known.get((r.dataset, r.profile, int(r.seed), str(r.forget), r.method))
        cells.append(cell or Row(r.dataset, r.profile, int(r.seed), forget, r.base_method,
                                  r.method))
    return cells


def calibrate(results: pd.DataFrame, grid: Grid | None = None) -> tuple[pd.DataFrame, float]:
    """Per method of a measured sweep: distinct ``models``, predicted ``units`` (training /
    unlearning only), measured ``seconds`` and their ratio ``s_per_unit``; and the fit
    Σ seconds / Σ units over every method with work (``prune_row`` has none)."""
    ok = results[results["status"] != "failed"]
    if ok.empty or ok["profile"].nunique() != 1:
        raise ValueError(f"calibrate on the rows of one profile; the CSV has "
                         f"{sorted(ok['profile'].unique())}")
    rows, seen = [], set()
    for cell, r in zip(calibration_rows(ok, grid), ok.itertuples()):
        own = next(it for it in row_items(cell) if it.phase == "train" and it.label == cell.label)
        if (cell.label, own.key) in seen:  # the original's row repeats once per forget set
            continue
        seen.add((cell.label, own.key))
        rows.append({"method": cell.label, "units": own.work.units, "seconds": float(r.seconds)})
    table = pd.DataFrame(rows).groupby("method", sort=False).agg(
        models=("units", "size"), units=("units", "sum"), seconds=("seconds", "sum"))
    worked = table[table["units"] > 0]
    fit = worked["seconds"].sum() / worked["units"].sum()
    table["s_per_unit"] = table["seconds"] / table["units"].where(table["units"] > 0)
    table["vs_fit"] = table["s_per_unit"] / fit
    return table, fit


def evaluation_check(results: pd.DataFrame, grid: Grid | None) -> tuple[float, float]:
    """(predicted evaluation units, measured seconds) of a sweep's rows: ``wall_seconds``
    minus the model's own ``seconds`` (the original's row does not train it), summed."""
    ok = results[results["status"] != "failed"]
    extras = grid.extras if grid is not None else ()
    items = {item.key: item.work.units for cell in calibration_rows(ok, grid)
             for item in row_items(cell, extras) if item.phase == "eval"}
    units = sum(items.values())
    own = ok["seconds"].where(ok["base_method"] != "original", 0.0)
    return units, float((ok["wall_seconds"] - own).sum())


def per_method_seconds(table: pd.DataFrame, calibration: pd.DataFrame, fit: float) -> float:
    """Seconds of a cost table at each method's own measured s/unit (training units of a
    method the calibration has) and at ``fit`` for everything else."""
    rate = calibration["s_per_unit"].reindex(table.index).fillna(fit)
    return float((table["train"] * rate).sum() + table["eval"].sum() * fit)


# ------------------------------------------------------------------- model step timing

@dataclass(frozen=True)
class StepSpec:
    """One training step of a profile's model on a dataset's images."""

    width: int
    channels: int
    side: int
    classes: int
    batch_size: int
    padding: int
    flip: bool
    bf16: bool

    def describe(self) -> str:
        aug = f", crop {self.padding}" if self.padding else ""
        aug += ", flip" if self.flip else ""
        return (f"ResNet-18 width {self.width} on {self.channels}x{self.side}x{self.side}, "
                f"batch {self.batch_size}{aug}, {'bf16' if self.bf16 else 'fp32'}")


def step_spec(dataset: str, profile: str) -> StepSpec:
    cfg = get_profile(profile).train
    _, _, k, c, side = DATASETS[dataset]
    return StepSpec(cfg.width, c, side, k, cfg.batch_size, cfg.padding, cfg.flip, cfg.bf16)


def forward_macs(spec: StepSpec) -> int:
    """Multiply-accumulates of one image's forward pass (convolutions and linear layers)."""
    model = create_model("resnet18", num_classes=spec.classes, width=spec.width,
                         in_channels=spec.channels).eval()
    total = 0

    def hook(module, _inputs, out):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += out.numel() * module.in_channels // module.groups * kh * kw
        else:
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, spec.channels, spec.side, spec.side))
    for h in handles:
        h.remove()
    return total


def time_steps(specs: Sequence[StepSpec], rounds: int, seconds: float) -> list[float]:
    """Median seconds per image of a training step (SGD Nesterov, channels-last, the spec's
    augmentation and precision) of each spec on one CPU thread; the specs alternate within
    every round, each running whole steps for about ``seconds``."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    runs = []
    for spec in specs:
        torch.manual_seed(0)
        model = create_model("resnet18", num_classes=spec.classes, width=spec.width,
                             in_channels=spec.channels).to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.train().parameters(), lr=1e-3, momentum=0.9, nesterov=True,
                              weight_decay=5e-4)
        x = torch.randint(0, 256, (spec.batch_size, spec.channels, spec.side, spec.side),
                          dtype=torch.uint8, generator=g)
        y = torch.randint(0, spec.classes, (spec.batch_size,), generator=g)

        def step(spec=spec, model=model, opt=opt, x=x, y=y) -> None:
            xb = augment_batch(x, spec.padding, spec.flip, g).float().div(255).sub(0.5)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=spec.bf16):
                logits = model(xb.contiguous(memory_format=torch.channels_last))
            loss = F.cross_entropy(logits.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        step()  # warm-up
        runs.append(step)
    per_image: list[list[float]] = [[] for _ in specs]
    for _ in range(rounds):
        for j, (spec, step) in enumerate(zip(specs, runs)):
            n, start = 0, time.perf_counter()
            while n == 0 or time.perf_counter() - start < seconds:
                step()
                n += 1
            per_image[j].append((time.perf_counter() - start) / (n * spec.batch_size))
    return [statistics.median(t) for t in per_image]


# ---------------------------------------------------------------------------- reporting

REPO = Path.cwd()  # a calibration CSV's grid is looked up under grids/ of the repository


def _n(x: float) -> str:
    return f"{x:14,.0f}"


def _h(hours: float) -> str:
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.3g}"


def print_cost(grid: Grid, table: pd.DataFrame) -> None:
    combos = sorted({(c.dataset, c.profile) for c in grid.rows})
    seeds, forgets = {c.seed for c in grid.rows}, {c.forget for c in grid.rows}
    print(f"\n== grid {grid.name}: {len(grid.rows)} rows "
          f"({', '.join(f'{d}/{p}' for d, p in combos)}; {len(seeds)} seeds x "
          f"{len(forgets)} forget sets x {len(grid.rows) // (len(seeds) * len(forgets))} "
          f"rows, the original's included)")
    print(f"{'method':<24}{'rows':>6}{'train units':>15}{'eval units':>15}"
          f"{'total units':>15}{'share':>8}")
    for label, r in table.iterrows():
        rows = int(r["rows"]) or "-"  # cmf_original: shared, no row of its own
        print(f"{label:<24}{rows:>6} {_n(r['train'])} {_n(r['eval'])} {_n(r['total'])} "
              f"{100 * r['share']:6.1f}%")
    print(f"{'total':<24}{int(table['rows'].sum()):>6} {_n(table['train'].sum())} "
          f"{_n(table['eval'].sum())} {_n(table['total'].sum())}  100.0%")
    for p in sorted({p for _, p in combos}):
        cfg = get_profile(p).train
        if cfg.patience is not None:
            print(f"note: profile {p}: original and Retrain counted at {cfg.epochs} epochs, an "
                  f"upper bound (early stopping, patience {cfg.patience}, may end them sooner)")
    if "cmf_original" in table.index:
        print("note: cmf_original = the CMF fine-tune of each seed, shared by its +cmf rows")


def report_calibration(path: str, grid_path: str | None) -> tuple[pd.DataFrame, float, StepSpec]:
    """Print the per-method comparison of a measured sweep; return it, the fit and the
    calibration profile's step."""
    results = pd.read_csv(path, dtype={"forget": str})
    grid_path = Path(grid_path) if grid_path else REPO / "grids" / f"{Path(path).stem}.yaml"
    grid = load_grid(grid_path) if grid_path.exists() else None
    table, fit = calibrate(results, grid)
    profile = results["profile"].iloc[0]
    print(f"\n== calibration: {path} (profile {profile}; hyperparameters of "
          f"{grid_path if grid else 'hparams.toml, no grid overrides'})")
    print(f"{'method':<26}{'models':>7}{'pred. units':>13}{'seconds':>10}{'s/unit':>11}"
          f"{'vs fit':>9}")
    for label, r in table.iterrows():
        worked = r["units"] > 0
        print(f"{label:<26}{int(r['models']):>7}{r['units']:>13,.0f}{r['seconds']:>10.1f}"
              + (f"{r['s_per_unit']:>11.2e}{r['vs_fit']:>8.2f}x" if worked else "   (no work)"))
    print(f"fit: {fit:.3e} s/unit = sum of seconds / sum of predicted units ('vs fit': a "
          f"method's s/unit over the fit; 1.00x = the unit count predicts its time exactly); "
          f"median over methods {table['vs_fit'].median():.2f}x")
    units, seconds = evaluation_check(results, grid)
    print(f"evaluation (wall_seconds - seconds): {seconds:.1f} s for {units:,.0f} predicted "
          f"units = {seconds / units:.2e} s/unit, {seconds / units / fit:.1f}x the fit (probes, "
          f"k-NN, MIA and NC on features are not image passes and are not counted)")
    return table, fit, step_spec(results["dataset"].iloc[0], profile)


def measure_steps(specs: Sequence[StepSpec], rounds: int, seconds: float) -> dict:
    """Seconds per image of each spec's training step (specs differing only in the class
    count share one timing: the head is under 0.1% of the MACs)."""
    timed: dict[StepSpec, StepSpec] = {}
    for spec in specs:
        timed.setdefault(replace(spec, classes=10), spec)
    per_image = dict(zip(timed, time_steps(list(timed.values()), rounds, seconds)))
    print(f"\n== training step on this CPU (1 thread, median of {rounds} alternating rounds)")
    for key, spec in timed.items():
        print(f"{spec.describe()}: {1e3 * per_image[key]:.2f} ms/image, "
              f"{forward_macs(spec) / 1e6:.1f} M multiply-adds/image forward")
    return {spec: per_image[replace(spec, classes=10)] for spec in specs}


def report_projection(grid: Grid, table: pd.DataFrame, spec: StepSpec, ref: StepSpec,
                      ratio: float, how: str, step_s: dict, calibration,
                      throughput: float | None) -> None:
    units = table["total"].sum()
    print(f"\n== projection {grid.name}: {units:,.0f} units")
    print(f"grid model / calibration model ({ref.describe()}): step time {ratio:.1f}x ({how}), "
          f"forward multiply-adds {forward_macs(spec) / forward_macs(ref):.1f}x")
    if spec in step_s:
        print(f"CPU, timed step alone: {_h(units * step_s[spec] / 3600)} CPU-hours (units x "
              f"{1e3 * step_s[spec]:.1f} ms, one thread, nothing but the training step)")
    if calibration is None:
        print("CPU, calibrated: pass --calibrate CSV (the results of a measured cpu sweep)")
    else:
        cal, fit = calibration
        print(f"CPU, calibrated: {_h(units * fit * ratio / 3600)} CPU-hours (units x fit "
              f"{fit:.3e} s/unit x {ratio:.1f}); at each method's own measured s/unit: "
              f"{_h(per_method_seconds(table, cal, fit) * ratio / 3600)} CPU-hours")
    if throughput:
        print(f"GPU: {_h(units / throughput / 3600)} GPU-hours at {throughput:,.0f} img/s "
              f"(ASSUMED forward+backward throughput, not measured)")
    else:
        print("GPU: pass --throughput IMG_PER_S (measured on the target GPU) for GPU-hours")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("grids", nargs="+", help="grid YAML files (grids/*.yaml)")
    parser.add_argument("--throughput", type=float, metavar="IMG_PER_S",
                        help="forward+backward images/s of the grid's model on the target GPU, "
                             "an assumption you supply; needed for GPU-hours")
    parser.add_argument("--calibrate", metavar="CSV",
                        help="tidy results of a measured CPU sweep ($ILLUSION_CACHE/sweeps/"
                             "cpu.csv): fit seconds per unit, project CPU-hours")
    parser.add_argument("--calibration-grid", metavar="YAML",
                        help="the grid behind --calibrate, for its hyperparameter overrides "
                             "(default: grids/<CSV stem>.yaml when it exists)")
    parser.add_argument("--ratio", type=float,
                        help="step-time ratio grid model / calibration model; skips the timing")
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (alternating)")
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="seconds per model and timing round (at least one step)")
    args = parser.parse_args(argv)
    if args.throughput is not None and args.throughput <= 0:
        parser.error("--throughput must be positive")
    try:
        grids = [load_grid(g) for g in args.grids]
        specs = [step_spec(*_one_model(g)) for g in grids]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("units: image passes; 1 unit = one image forward+backward through the trained "
          "network, a forward-only image = 1/3 unit")
    tables = [cost_table(g) for g in grids]
    for grid, table in zip(grids, tables):
        print_cost(grid, table)
    calibration, ref = None, step_spec("fashion_mnist", "cpu")
    if args.calibrate:
        try:
            cal, fit, ref = report_calibration(args.calibrate, args.calibration_grid)
        except (OSError, ValueError, KeyError) as exc:
            print(f"error: --calibrate {args.calibrate}: {exc}", file=sys.stderr)
            return 2
        calibration = (cal, fit)
    step_s = {} if args.ratio else measure_steps([*dict.fromkeys([*specs, ref])],
                                                 args.rounds, args.seconds)
    for grid, table, spec in zip(grids, tables, specs):
        ratio, how = ((args.ratio, "given") if args.ratio
                      else (step_s[spec] / step_s[ref], "timed here"))
        report_projection(grid, table, spec, ref, ratio, how, step_s, calibration,
                          args.throughput)
    return 0


def _one_model(grid: Grid) -> tuple[str, str]:
    """The grid's (dataset, profile); a projection needs a single model."""
    combos = sorted({(c.dataset, c.profile) for c in grid.rows})
    if len(combos) != 1:
        raise ValueError(f"grid {grid.name}: a projection needs one (dataset, profile), "
                         f"got {combos}")
    return combos[0]


if __name__ == "__main__":
    raise SystemExit(main())
