"""The audit's judgement in words, from its numbers (pure; every criterion is a constant here).

The yardstick is a **reference**: a model of the same architecture retrained without the
forget classes (Retrain). Retrain never saw the class, yet its features still separate it to a
degree (a linear probe finds much of a Fashion-MNIST class in them, far above chance), so a probe
accuracy means nothing alone; what betrays a hidden class is a readout clearly *above* the
reference's. Accuracies are percent on the test images of the forget classes.

Criteria, in the order they are applied:

1. **Not forgotten at the output**: output forget accuracy above the reference's by more than
   ``OUTPUT_MARGIN`` points.
2. **Still in the features**: a feature readout (linear probe, nearest class mean, k-NN) above
   the reference's by more than ``FEATURE_MARGIN`` points.
3. **Relearns faster**: the mean forget accuracy along the relearning attack above the
   reference's by more than ``RELEARN_MARGIN`` points.
4. **Retained classes damaged** (reported beside the verdict): output retain accuracy below the
   reference's by more than ``RETAIN_MARGIN`` points.

Without a reference only the output can be judged, against ``OUTPUT_FORGOTTEN_MAX``; whether
the features still hold the class is left open, and the verdict says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["FEATURE_MARGIN", "OUTPUT_FORGOTTEN_MAX", "OUTPUT_MARGIN", "RELEARN_MARGIN",
           "RETAIN_MARGIN", "Readouts", "Verdict", "judge"]

OUTPUT_MARGIN = 5.0  # points of output forget accuracy tolerated above the reference's
FEATURE_MARGIN = 10.0  # points a feature readout may exceed the reference's before it counts
RELEARN_MARGIN = 10.0  # points of mean relearned forget accuracy above the reference's
RETAIN_MARGIN = 5.0  # points of output retain accuracy below the reference's = damage
OUTPUT_FORGOTTEN_MAX = 5.0  # without a reference: output forget accuracy at most this = forgotten

FEATURE_READOUTS = (("probe", "probe"), ("ncc", "nearest class mean"), ("knn", "k-NN"))


@dataclass(frozen=True)
class Readouts:
    """One model's numbers the verdict reads (percent; NaN or None when not measured)."""

    output_forget: float
    output_retain: float
    probe: float | None = None  # linear probe, forget classes
    ncc: float | None = None
    knn: float | None = None
    relearn: float | None = None  # mean forget accuracy along the relearning attack

    @classmethod
    def from_record(cls, rec: dict) -> "Readouts":
        """From one model's entry of the audit record (:func:`illusion.audit.measure.audit`)."""
        acc = rec["accuracy"]
        get = lambda name: acc.get(name, {}).get("forget")  # noqa: E731
        return cls(acc["output"]["forget"], acc["output"]["retain"], get("probe"), get("ncc"),
                   get("knn"), rec.get("relearn_mean"))


@dataclass(frozen=True)
class Verdict:
    """``status``: ``hidden``, ``relearnable``, ``not_forgotten``, ``consistent``, ``forgotten_output``
    (no reference, output forgotten), ``inconclusive``; ``headline`` one sentence; ``details``
    the comparisons behind it; ``criteria`` the margins used."""

    status: str
    headline: str
    details: tuple[str, ...]
    criteria: dict

    def as_dict(self) -> dict:
        return {"status": self.status, "headline": self.headline, "details": list(self.details),
                "criteria": self.criteria}


def _ok(v: float | None) -> bool:
    return v is not None and not math.isnan(v)


def _pct(v: float) -> str:
    return f"{v:.0f}%"


def _criteria() -> dict:
    return {"output_margin": OUTPUT_MARGIN, "feature_margin": FEATURE_MARGIN,
            "relearn_margin": RELEARN_MARGIN, "retain_margin": RETAIN_MARGIN,
            "output_forgotten_max": OUTPUT_FORGOTTEN_MAX}


def judge(model: Readouts, reference: Readouts | None = None) -> Verdict:
    """The verdict on ``model`` against ``reference`` (see the module docstring)."""
    if not _ok(model.output_forget):
        return Verdict("inconclusive", "Nothing can be concluded: there are no test images of "
                       "the forget class(es) to measure.", (), _criteria())
    if reference is None or not _ok(reference.output_forget):
        return _without_reference(model)
    details = []
    out, ref_out = model.output_forget, reference.output_forget
    output_forgotten = out <= ref_out + OUTPUT_MARGIN
    details.append(f"output: {_pct(out)} of the forget class's test images still classified "
                   f"correctly vs reference {_pct(ref_out)}")
    above = []  # (excess, text) of every feature readout clearly above the reference's
    for key, label in FEATURE_READOUTS:
        mine, ref = getattr(model, key), getattr(reference, key)
        if _ok(mine) and _ok(ref):
            details.append(f"{label}: {_pct(mine)} vs reference {_pct(ref)}")
            if mine - ref > FEATURE_MARGIN:
                above.append((mine - ref, f"{label} {_pct(mine)} vs reference {_pct(ref)}"))
    relearns = _ok(model.relearn) and _ok(reference.relearn) and (
        model.relearn - reference.relearn > RELEARN_MARGIN)
    if _ok(model.relearn) and _ok(reference.relearn):
        details.append(f"relearning attack: mean forget accuracy {_pct(model.relearn)} vs "
                       f"reference {_pct(reference.relearn)}")
    damage = ""
    if _ok(model.output_retain) and _ok(reference.output_retain) and (
            reference.output_retain - model.output_retain > RETAIN_MARGIN):
        damage = (f" The retained classes lost accuracy: {_pct(model.output_retain)} vs "
                  f"reference {_pct(reference.output_retain)}.")
    # the probe is cited first when it counts (it is [A]'s readout); then by excess
    above.sort(key=lambda t: (not t[1].startswith("probe"), -t[0]))
    if not output_forgotten:
        status = "not_forgotten"
        head = (f"Not forgotten at the output: {_pct(out)} of the forget class is still "
                f"recognised vs reference {_pct(ref_out)}.")
    elif above:
        status = "hidden"
        head = ("Forgotten at the output; the features still separate the class: "
                + ", ".join(t for _, t in above) + ".")
    elif relearns:
        status = "relearnable"
        head = (f"Forgotten at the output and in the features, but it relearns the class faster "
                f"than the reference: {_pct(model.relearn)} vs {_pct(reference.relearn)} mean "
                "forget accuracy during the attack.")
    else:
        status = "consistent"
        head = ("Consistent with the reference: forgotten at the output, and no readout of the "
                "features (nor the relearning attack, where run) exceeds the reference's by "
                "more than the margins.")
    if relearns and status == "hidden":
        head += (f" It also relearns faster: {_pct(model.relearn)} vs "
                 f"{_pct(reference.relearn)}.")
    return Verdict(status, head + damage, tuple(details), _criteria())


def _without_reference(model: Readouts) -> Verdict:
    out = model.output_forget
    if out <= OUTPUT_FORGOTTEN_MAX:
        status, first = "forgotten_output", (f"Forgotten at the output ({_pct(out)} of the "
                                             "forget class's test images still recognised).")
    else:
        status, first = "not_forgotten", (f"Not forgotten at the output: {_pct(out)} of the "
                                          "forget class's test images are still recognised.")
    probe = f" (probe here: {_pct(model.probe)})" if _ok(model.probe) else ""
    rest = (" Whether the features still hold the class cannot be concluded without a "
            "reference: a model retrained without the class also separates it in its features "
            f"to a degree{probe}. Pass --reference (a Retrain of the same architecture) or "
            "--train-reference.")
    return Verdict(status, first + rest, (), _criteria())
