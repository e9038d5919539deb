"""What a relearning attack is, apart from running it: its settings (:class:`RelearnConfig`),
the attacks the book runs (:func:`default_attacks`), the learning rates the calibration
tries (:data:`CALIBRATION_LRS`) and those of claim C5's dose-response (:data:`DOSE_LRS`).

They live apart from :mod:`illusion.attacks` (which runs attacks on models) because the
attacks a row runs are part of that row's cache key (:func:`illusion.keys.row_spec`), and
the key module sits below the code that trains. The profile's calibrated learning rate is a
field of the profile (:attr:`illusion.profiles.Profile.attack_lr`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .profiles import ATTACK_LR_DEFAULT, get_profile

__all__ = ["CALIBRATION_LRS", "DOSE_LRS", "RelearnConfig", "default_attacks"]

CALIBRATION_LRS = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)  # half-decades up from the default
# Claim C5's dose-response (illusion.attacks.dose_response): steps to 50% against the attack's
# learning rate, a tenth of a decade apart from the default (1e-3) to 1e-2: the R10 preferred
# numbers 10^(k/10), k = 0..10, to two significant digits (3.16 -> 3.2e-3). Fixed on 2026-12-06
# before any dose-response ran, after the cpu calibration (tuning/attack_cpu.csv) had shown
# Retrain relearning nothing at 1e-3 and losing its retained classes at 3e-3: a half-decade
# is too coarse to find a rate in between, four of these lie strictly between the two. 1e-3
# and 1e-2 are the calibration's own rates (the same cached curves for Retrain).
DOSE_LRS = (1e-3, 1.25e-3, 1.6e-3, 2e-3, 2.5e-3, 3.2e-3, 4e-3, 5e-3, 6.3e-3, 8e-3, 1e-2)


@dataclass(frozen=True)
class RelearnConfig:
    """One relearning attack (stored with every cached curve)."""

    fraction: float = 0.05  # share of the forget classes' training images used, in (0, 1]
    retain_ratio: float = 1.0  # retain images added per forget image (0: forget images only)
    include_forget: bool = True  # False: control run on the retain images alone
    steps: int = 40
    eval_every: int = 5
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 32
    train_bn: bool = False  # update batch-norm statistics while fine-tuning
    eval_images: int = 500  # test images per split (forget / retain) the curve is read on
    bf16: bool | None = None  # bfloat16 autocast; None: as the model's profile trains

    def __post_init__(self):
        if not 0.0 < self.fraction <= 1.0:
            raise ValueError(f"relearn: fraction must be in (0, 1], got {self.fraction}")
        if self.retain_ratio < 0:
            raise ValueError(f"relearn: retain_ratio must be >= 0, got {self.retain_ratio}")
        if not self.include_forget and self.retain_ratio == 0:
            raise ValueError("relearn: include_forget=False needs retain_ratio > 0")
        if min(self.steps, self.lr) < 0 or min(self.eval_every, self.batch_size,
                                                 self.eval_images) < 1:
            raise ValueError(f"relearn: invalid steps/eval_every/batch_size/lr/eval_images "
                             f"in {self}")


def default_attacks(fractions: Sequence[float] = (0.01, 0.05, 0.1), retain_ratio: float = 9.0,
                    steps: int = 50, eval_every: int = 5, lr: float | None = None,
                    retain_only_control: bool = True,
                    profile: str | None = None) -> dict[str, RelearnConfig]:
    """The attacks of the relearning page, by label: a share ``f`` of the forget class's
    training images for every ``f`` in ``fractions``, and (``retain_only_control``) the control
    on retain images alone; ``lr`` defaults to the profile's calibrated one
    (:attr:`illusion.profiles.Profile.attack_lr`; no profile: :data:`ATTACK_LR_DEFAULT`). The
    ``relearn`` extra (:mod:`illusion.rows`) runs the defaults of its row's profile, and the
    page reads exactly those curves."""
    if lr is None:
        lr = get_profile(profile).attack_lr if profile else ATTACK_LR_DEFAULT
    attack = dict(retain_ratio=retain_ratio, steps=steps, eval_every=eval_every, lr=lr)
    configs = {f"{f:.0%} of the forget class": RelearnConfig(fraction=f, **attack)
               for f in fractions}
    if retain_only_control:
        configs["retain images only"] = RelearnConfig(fraction=max(fractions),
                                                      include_forget=False, **attack)
    return configs
