"""The relearning attack (claim C5): how fast does fine-tuning bring a forgotten class back?

A **copy** of an unlearned model is fine-tuned for a few steps on a small labelled sample of the
forget classes' training images (``fraction`` of them, optionally mixed with
``retain_ratio`` retain images per forget image); forget accuracy on the test images of the
forget classes is recorded every ``eval_every`` steps. Retrain, which never saw the forget
classes, is the reference: relearning faster than Retrain means the unlearned model still
holds what it was meant to erase. ``include_forget=False`` is the control that fine-tunes on
the retain images alone.

Protocol choices: plain SGD (momentum, weight decay) with cross-entropy on un-augmented
images; batch-norm statistics frozen by default (``train_bn``), since a few batches of one
class would otherwise overwrite them and make every model, Retrain included, look alike.
Randomness: the sample and the evaluation subset come from a "sample" stream, batch order from
an "order" stream, both derived from ``seed``; the global RNG is never used.

Disclosure: the first learning rate (1e-3, :data:`illusion.profiles.ATTACK_LR_DEFAULT`) and
notebook 06's mixing (9 retain images per forget image, the natural class balance) were settled
after
looking at ``cpu``-profile curves on *test* images for three models (Retrain, RL, EC): at lr
1e-2 with 1:1 mixing every model, Retrain included, predicted the forget class within 5 steps.
At 1e-3, Retrain relearned nothing, so "faster than Retrain" meant "relearns at all". The
learning rate is now chosen per profile on the **validation** split by
:func:`calibrate_attack`, by a rule fixed before it ran: the smallest rate at which Retrain
relearns measurably (its validation forget accuracy reaches 50%) without losing its retained
classes (:attr:`illusion.profiles.Profile.attack_lr`). [A]'s released code has no relearning
attack: the protocol is this project's.

The cpu calibration (``tuning/attack_cpu.csv``) found no such rate on its half-decade grid:
Retrain relearned nothing at 1e-3 and lost its retained classes at 3e-3. Claim C5's
dose-response (:func:`dose_response`) runs the same validation attack, on Retrain and on every
judged model, at every rate of :data:`illusion.attack_config.DOSE_LRS` (a tenth of a decade
apart from 1e-3 to 1e-2), so that steps to 50% can be compared as curves over the rate.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import replace
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from .attack_config import CALIBRATION_LRS, DOSE_LRS, RelearnConfig, default_attacks
from .cache import ArtifactCache
from .data import ImageData, batches, normalize
from .gaps import gap_means
from .keys import relearn_spec
from .pipeline import TrainedModel, generators
from .stats import IMAGE_SEED, subset_gap
from .train import evaluate_accuracy, predict

__all__ = ["calibrate_attack", "dose_curves", "dose_response", "dose_summary",
           "intra_op_threads", "lead_means", "relearn", "relearn_curve",
           "relearn_curves", "relearn_leads", "relearn_sample", "relearn_scores",
           "relearn_summary", "relearn_tables"]


def relearn_sample(forget_idx: torch.Tensor, retain_idx: torch.Tensor, cfg: RelearnConfig,
                   generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(forget part, retain part) of the fine-tuning set, as indices into ``x_train``:
    ``max(1, round(fraction · |forget|))`` forget images and ``round(retain_ratio · that)``
    retain images, drawn without replacement; the forget part is empty for the control."""
    if len(forget_idx) == 0:
        raise ValueError("relearn: the model has no forget-class training images")
    n_f = max(1, round(cfg.fraction * len(forget_idx)))
    n_r = min(len(retain_idx), round(cfg.retain_ratio * n_f))
    f = forget_idx[torch.randperm(len(forget_idx), generator=generator)[:n_f]]
    r = retain_idx[torch.randperm(len(retain_idx), generator=generator)[:n_r]]
    return (f if cfg.include_forget else f[:0]), r


def _stream(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless shuffled batches of positions 0..n-1 (reshuffled every pass)."""
    while True:
        yield from batches(n, min(batch_size, n), generator)


@contextlib.contextmanager
def intra_op_threads(n: int, device: torch.device):
    """Limit torch's CPU intra-op threads to ``n`` for the block (restored on exit): batches of
    a few dozen small images gain nothing from a second thread, and on a machine shared with
    other jobs the extra thread's spinning slows a relearning curve down several times over."""
    before = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def relearn_curve(model: nn.Module, data: ImageData, forget_idx: torch.Tensor,
                  retain_idx: torch.Tensor, test_forget: torch.Tensor, test_retain: torch.Tensor,
                  cfg: RelearnConfig, seed: int = 0,
                  device: torch.device | str | None = None, on_train: bool = False) -> dict:
    """Fine-tune a copy of ``model``; return ``{"curve": [{step, forget_acc, retain_acc,
    loss}], "n_forget", "n_retain", "forget_images", "forget_hits"}`` (accuracies in percent on
    the test indices given). ``forget_images`` are the forget-class test images the curve is
    read on (indices into ``x_test``) and ``forget_hits`` how many evaluated steps after step
    0 got each of them right: the per-image record behind the curve's mean, which the
    relearning lead's bootstrap interval resamples (:func:`relearn_scores`). With ``on_train``
    the evaluation indices point into ``x_train`` instead (the validation split, for
    :func:`calibrate_attack`).

    ``model`` itself is never modified (weights, buffers and train/eval mode)."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    with intra_op_threads(1, device):
        return _relearn(model, data, forget_idx, retain_idx, test_forget, test_retain, cfg,
                        seed, device, on_train)


def _relearn(model: nn.Module, data: ImageData, forget_idx: torch.Tensor,
             retain_idx: torch.Tensor, test_forget: torch.Tensor, test_retain: torch.Tensor,
             cfg: RelearnConfig, seed: int, device: torch.device, on_train: bool = False
             ) -> dict:
    g = generators(seed, ("sample", "order"), salt="relearn:")
    f_part, r_part = relearn_sample(forget_idx, retain_idx, cfg, g["sample"])
    idx = torch.cat([f_part, r_part])  # (N,)
    ev_f, ev_r = (t[torch.randperm(len(t), generator=g["sample"])[:cfg.eval_images]]
                  for t in (test_forget, test_retain))
    net = copy.deepcopy(model).to(device).float()
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=cfg.momentum,
                          nesterov=cfg.momentum > 0, weight_decay=cfg.weight_decay)

    hits = torch.zeros(len(ev_f), dtype=torch.int64)  # per forget image: correct steps > 0
    x_eval, y_eval = (data.x_train, data.y_train) if on_train else (data.x_test, data.y_test)

    def point(step: int, loss: float) -> dict:
        right = predict(net, data, x_eval[ev_f], device=device,
                        bf16=bool(cfg.bf16)) == y_eval[ev_f]
        if step > 0:
            hits.add_(right.long())
        return {"step": step, "loss": loss,
                "forget_acc": 100.0 * right.float().mean().item() if len(ev_f) else float("nan"),
                "retain_acc": evaluate_accuracy(net, data, x_eval[ev_r], y_eval[ev_r],
                                                device, bool(cfg.bf16))}

    curve, running = [point(0, float("nan"))], []
    stream = _stream(len(idx), cfg.batch_size, g["order"])
    for step in range(1, cfg.steps + 1):
        net.train(cfg.train_bn)
        b = idx[next(stream)]
        x = normalize(data.x_train[b].to(device), data.mean, data.std)  # (B, C, H, W)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bool(cfg.bf16)):
            logits = net(x)
        loss = F.cross_entropy(logits.float(), data.y_train[b].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running.append(loss.detach())  # no per-step sync; read once per evaluation
        if step % cfg.eval_every == 0 or step == cfg.steps:
            curve.append(point(step, torch.stack(running).mean().item()))
            running = []
    return {"curve": curve, "n_forget": len(f_part), "n_retain": len(r_part),
            "forget_images": ev_f.tolist(), "forget_hits": hits.tolist()}


def _val_curves(tm: TrainedModel, lrs: Sequence[float], seed: int,
                cache: ArtifactCache | None, attack: Mapping) -> list[tuple[float, pd.DataFrame]]:
    """``(lr, curve)`` for each of ``lrs`` in increasing order: :func:`relearn` of ``tm`` on
    the **validation** split under the largest-fraction attack of :func:`default_attacks`
    (``attack`` overrides its settings) at that learning rate, cached under
    :func:`relearn`'s keys."""
    configs = default_attacks(**attack, lr=lrs[0], retain_only_control=False)
    base = configs[list(configs)[-1]]  # the largest fraction
    return [(lr, relearn(tm, replace(base, lr=lr), seed, cache, split="val"))
            for lr in sorted(lrs)]


def _lr_row(lr: float, curve: pd.DataFrame, level: float, retain_tol: float) -> dict:
    """One learning rate's row of :func:`calibrate_attack` and :func:`dose_response` from its
    curve (rows in step order, step 0 first), with ``start_forget`` last (the calibration
    leaves it out)."""
    after = curve[curve["step"] > 0]
    reached = after.loc[after["forget_acc"] >= level, "step"]
    start, final = curve.iloc[0], curve.iloc[-1]
    return {"lr": lr, "start_retain": float(start["retain_acc"]),
            "final_retain": float(final["retain_acc"]),
            "keeps_retain": bool(final["retain_acc"] >= start["retain_acc"] - retain_tol),
            "final_forget": float(final["forget_acc"]),
            f"steps_to_{level:g}": float(reached.min()) if len(reached) else np.nan,
            "start_forget": float(start["forget_acc"])}


def _lr_rows(tm: TrainedModel, lrs: Sequence[float], seed: int, cache: ArtifactCache | None,
             level: float, retain_tol: float, attack: Mapping) -> pd.DataFrame:
    """:func:`_lr_row` of every learning rate's validation curve (:func:`_val_curves`)."""
    return pd.DataFrame([_lr_row(lr, curve, level, retain_tol)
                         for lr, curve in _val_curves(tm, lrs, seed, cache, attack)])


def calibrate_attack(retrain: TrainedModel, lrs: Sequence[float] = CALIBRATION_LRS,
                     level: float = 50.0, retain_tol: float = 5.0, seed: int = 0,
                     cache: ArtifactCache | None = None, **attack) -> pd.DataFrame:
    """Choose the attack's learning rate on the **validation** split, so that Retrain relearns
    measurably (the rule, fixed before any run): run the largest-fraction attack of
    :func:`default_attacks` (``attack`` overrides its settings) on ``retrain`` at each of
    ``lrs``, reading accuracy on the validation images; among the learning rates that keep
    Retrain's validation retain accuracy within ``retain_tol`` points of its value before the
    attack, take the smallest at which its validation forget accuracy reaches ``level``
    percent at an evaluated step. None reaches it: the one with the highest forget accuracy
    at the last step (``note`` says so); none keeps retain: the smallest (noted).

    One row per learning rate: ``lr``, ``start_retain``, ``final_retain``, ``keeps_retain``,
    ``final_forget``, ``steps_to_<level>`` (NaN if never), ``chosen`` and ``note``. The
    per-rate rows are :func:`dose_response`'s (the same cached curves)."""
    table = _lr_rows(retrain, lrs, seed, cache, level, retain_tol, attack)
    table = table.drop(columns="start_forget")
    kept = table[table["keeps_retain"]]
    reaching = kept[kept[f"steps_to_{level:g}"].notna()]
    if len(reaching):
        pick, note = reaching.index[0], f"smallest lr at which Retrain reaches {level:g}%"
    elif len(kept):
        pick = kept["final_forget"].idxmax()
        note = f"no lr keeps retain and reaches {level:g}%: the highest final forget accuracy"
    else:
        pick, note = table.index[0], "no lr keeps retain: the smallest"
    table["chosen"] = table.index == pick
    table["note"] = np.where(table["chosen"], note, "")
    return table


def dose_response(tm: TrainedModel, lrs: Sequence[float] = DOSE_LRS, seed: int = 0,
                  cache: ArtifactCache | None = None, level: float = 50.0,
                  retain_tol: float = 5.0, **attack) -> pd.DataFrame:
    """Claim C5 as a dose-response: how many attack steps ``tm`` (Retrain or an unlearned
    model) needs to reach ``level`` percent forget accuracy, against the attack's learning
    rate. For each of ``lrs`` (default :data:`illusion.attack_config.DOSE_LRS`, a tenth of a
    decade apart), the largest-fraction attack of :func:`default_attacks` (``attack``
    overrides its settings) runs on the **validation** split, exactly as
    :func:`calibrate_attack` runs it on Retrain (the same code and cached curves).

    One row per learning rate, in increasing order: ``lr``, ``start_retain``,
    ``final_retain`` (validation retain accuracy before the attack and after its last step),
    ``keeps_retain`` (the final one at most ``retain_tol`` points below the start),
    ``final_forget``, ``steps_to_<level>`` (the first evaluated step at which validation
    forget accuracy reaches ``level`` percent; NaN if never) and ``start_forget`` (forget
    accuracy before the attack: whether the model forgot at all). :func:`dose_summary` of
    :func:`dose_curves` gives the same table."""
    return _lr_rows(tm, lrs, seed, cache, level, retain_tol, attack)


def dose_curves(tm: TrainedModel, lrs: Sequence[float] = DOSE_LRS, seed: int = 0,
                cache: ArtifactCache | None = None, **attack) -> pd.DataFrame:
    """The validation curves behind :func:`dose_response` (read from the cache when it ran):
    :func:`relearn`'s rows of every learning rate, with its ``lr``; what a page averages over
    the cells before it reads steps from a curve (:func:`dose_summary`)."""
    return pd.concat([curve.assign(lr=lr) for lr, curve in _val_curves(tm, lrs, seed, cache,
                                                                       attack)],
                     ignore_index=True)


def dose_summary(curves: pd.DataFrame, level: float = 50.0,
                 retain_tol: float = 5.0) -> pd.DataFrame:
    """:func:`dose_response`'s rows from curves (:func:`dose_curves`, possibly stacked with a
    ``method`` column, or averaged over cells): one row per (``method``, if any, and) ``lr``,
    in order of first appearance, read from the curve's rows in step order."""
    keys = [k for k in ("method",) if k in curves.columns] + ["lr"]
    rows = []
    for key, curve in curves.groupby(keys, sort=False):
        named = dict(zip(keys, key))
        rows.append({**{k: named[k] for k in keys if k != "lr"},
                     **_lr_row(named["lr"], curve.sort_values("step", kind="stable"), level,
                               retain_tol)})
    columns = [*keys[:-1], "lr", "start_retain", "final_retain", "keeps_retain",
               "final_forget", f"steps_to_{level:g}", "start_forget"]
    return pd.DataFrame(rows, columns=columns)


def relearn(tm: TrainedModel, config: RelearnConfig = RelearnConfig(), seed: int = 0,
            cache: ArtifactCache | None = None,
            device: torch.device | str | None = None, split: str = "test") -> pd.DataFrame:
    """The relearning curve of a cached model (unlearned, or Retrain as the reference), cached.

    Returns one row per evaluated step: ``step``, ``forget_acc``, ``retain_acc`` (percent, on
    the ``split`` images: ``"test"``, or ``"val"``, the training split's held-out images, which
    only :func:`calibrate_attack` and :func:`dose_response` read), ``loss`` (mean
    fine-tuning loss since the previous row), ``n_forget``, ``n_retain``. ``tm.model`` is never modified.
    """
    payload = _relearn_payload(tm, config, seed, cache, device, split)
    return pd.DataFrame(payload["curve"]).assign(n_forget=payload["n_forget"],
                                                 n_retain=payload["n_retain"])


def _relearn_payload(tm: TrainedModel, config: RelearnConfig, seed: int,
                     cache: ArtifactCache | None, device=None, split: str = "test") -> dict:
    s = tm.splits
    if not s.forget_classes:
        raise ValueError("relearn: the model has no forget classes (use an unlearned model or "
                         "Retrain)")
    if split not in ("test", "val"):
        raise ValueError(f"relearn: split must be 'test' or 'val', got {split!r}")
    cache = cache or ArtifactCache()
    if config.bf16 is None:
        config = replace(config, bf16=tm.bf16)
    spec = relearn_spec(tm.spec, tm.kind, s.forget_classes, config, seed, split)
    if split == "val":
        in_forget = torch.isin(tm.data.y_train[s.val], torch.tensor(s.forget_classes))
        ev_f, ev_r, on_train = s.val[in_forget], s.val[~in_forget], True
    else:
        ev_f, ev_r, on_train = s.test_forget, s.test_retain, False

    def build() -> dict:
        return relearn_curve(tm.model, tm.data, s.forget, s.retain, ev_f, ev_r, config, seed,
                             device, on_train)

    payload, _ = cache.get_or_create("relearn", spec, build)
    return payload


def relearn_scores(tm: TrainedModel, config: RelearnConfig = RelearnConfig(), seed: int = 0,
                   cache: ArtifactCache | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(test image indices, score) of a relearning curve's forget images, from the cached
    curve (:func:`relearn`): each image's share of the evaluated steps after step 0 that got it
    right. Their mean, in percent, is :func:`relearn_summary`'s ``mean``; two models' scores
    on the same images give the lead's paired bootstrap
    (:func:`illusion.attacks.relearn_leads`, :func:`illusion.stats.subset_gap`)."""
    payload = _relearn_payload(tm, config, seed, cache)
    steps = sum(1 for p in payload["curve"] if p["step"] > 0)
    hits = np.asarray(payload["forget_hits"], dtype=np.float64)
    return (np.asarray(payload["forget_images"], dtype=np.int64),
            hits / steps if steps else np.full(hits.shape, np.nan))


def relearn_curves(models: dict, configs: dict[str, RelearnConfig], seed: int = 0,
                   cache: ArtifactCache | None = None) -> pd.DataFrame:
    """Relearning curves of every model (label -> TrainedModel) under every attack in
    ``configs`` (label -> config): one tidy row per (method, attack, step)."""
    return pd.concat([relearn(tm, cfg, seed, cache).assign(method=name, attack=label,
                                                           fraction=cfg.fraction)
                      for name, tm in models.items() for label, cfg in configs.items()],
                     ignore_index=True)


def relearn_tables(models: dict, configs: dict[str, RelearnConfig], seed: int = 0,
                   cache: ArtifactCache | None = None, reference: str = "retrain",
                   level: float = 50.0) -> dict[str, pd.DataFrame]:
    """``{"curves": relearn_curves(...), "summary": relearn_summary(...)}`` of one cell."""
    curves = relearn_curves(models, configs, seed, cache)
    return {"curves": curves, "summary": relearn_summary(curves, reference, level)}


def relearn_summary(curves: pd.DataFrame, reference: str = "retrain",
                    level: float = 50.0) -> pd.DataFrame:
    """Per (method, attack): forget accuracy before the attack (``start``), its mean over the
    evaluated steps after step 0 (``mean``, an area under the curve), the first step at which it
    reaches ``level`` percent (NaN if never), and ``gap``: ``mean`` minus the reference's."""
    after = curves[curves["step"] > 0]
    out = curves[curves["step"] == 0].set_index(["method", "attack"])[["forget_acc"]]
    out = out.rename(columns={"forget_acc": "start"})
    out["mean"] = after.groupby(["method", "attack"])["forget_acc"].mean()
    reached = after[after["forget_acc"] >= level].groupby(["method", "attack"])["step"].min()
    out[f"steps_to_{level:g}"] = reached
    last = after.sort_values("step").groupby(["method", "attack"])
    out["final_retain"] = last["retain_acc"].last()
    if reference in out.index.get_level_values("method"):
        ref = out.xs(reference, level="method")["mean"]
        out["gap"] = out["mean"] - ref.reindex(out.index.get_level_values("attack")).to_numpy()
    return out.reset_index()


def relearn_leads(scores: Mapping[str, Mapping[str, tuple[np.ndarray, np.ndarray]]],
                  test_forget: np.ndarray, reference: str = "retrain") -> pd.DataFrame:
    """The relearning lead of every model of one cell over the reference, per attack: the
    forget accuracy averaged over the evaluated steps minus the reference's (the ``gap`` of
    :func:`illusion.attacks.relearn_summary`), with its paired 95% bootstrap interval over the
    forget-class test images the curves are read on (:func:`illusion.stats.subset_gap`,
    resampling the cell's whole forget test set, ``test_forget``, the indices of its
    forget-class test images, with :data:`illusion.stats.IMAGE_SEED`).

    ``scores`` maps a label (``reference`` among them) to ``{attack: (test image indices,
    score)}`` (:func:`illusion.attacks.relearn_scores`, stored by the ``relearn`` extra). One
    row per (``method``, ``attack``): ``gap``, ``low``, ``high``, ``interval``."""
    if reference not in scores:
        raise KeyError(f"relearn_leads: no reference model {reference!r}")
    test_forget = np.sort(np.asarray(test_forget))
    rows = []
    for attack, (ref_images, ref_scores) in scores[reference].items():
        for label, by_attack in scores.items():
            if label == reference:
                continue
            images, values = by_attack[attack]
            if not np.array_equal(images, ref_images):
                raise ValueError(f"relearn_leads: {label} and {reference} were read on other "
                                 "test images")
            iv = subset_gap(values, ref_scores, np.searchsorted(test_forget, images),
                            len(test_forget), seed=IMAGE_SEED)
            rows.append({"method": label, "attack": attack, "gap": iv.estimate, "low": iv.low,
                         "high": iv.high, "interval": iv})
    return pd.DataFrame(rows, columns=["method", "attack", "gap", "low", "high", "interval"])


def lead_means(leads: pd.DataFrame) -> pd.DataFrame:
    """:func:`relearn_leads` of several cells (stacked) as the mean lead per (``method``,
    ``attack``) over the cells with its interval and ``cells`` (:func:`gap_means`)."""
    return gap_means(leads, "attack")
