"""The audit's figures (from its JSON record) and its one-page, self-contained HTML report.

Figures are drawn from the record alone, so a notebook that reads ``audit.json`` shows exactly
the report's figures. The HTML embeds them as base64 PNG and has no script, stylesheet, font or
image from elsewhere: it opens offline.
"""

from __future__ import annotations

import base64
import html
import io
import math

__all__ = ["figures", "render_html"]

ROLES = (("model", "audited model", "#0173b2"), ("reference", "reference (Retrain)", "#949494"),
         ("original", "original", "#de8f05"))
READOUTS = (("output", "output"), ("probe", "linear probe"), ("ncc", "nearest class mean"),
            ("knn", "k-NN"))


def _present(record: dict):
    return [(key, label, color) for key, label, color in ROLES if record["models"].get(key)]


def _value(v) -> float:
    return float("nan") if v is None else float(v)


def readout_figure(record: dict):
    """Test accuracy of every readout on the forget and on the retained classes, per model."""
    import matplotlib.pyplot as plt

    roles = _present(record)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    width = 0.8 / len(roles)
    for ax, split in zip(axes, ("forget", "retain")):
        for i, (key, label, color) in enumerate(roles):
            acc = record["models"][key]["accuracy"]
            ys = [_value(acc[r][split]) for r, _ in READOUTS]
            xs = [j + (i - (len(roles) - 1) / 2) * width for j in range(len(READOUTS))]
            ax.bar(xs, ys, width, label=label, color=color)
            for x, y in zip(xs, ys):
                if not math.isnan(y):
                    ax.text(x, y + 1, f"{y:.0f}", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(READOUTS)), ["output", "probe", "NCC", "k-NN"], fontsize=8)
        ax.set_title(f"test images of the {'forget' if split == 'forget' else 'retained'} "
                     f"class{'(es)' if split == 'forget' else 'es'}", fontsize=10)
        ax.set_ylim(0, 109)
    axes[0].set_ylabel("accuracy (%)")
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    handles, labels = axes[0].get_legend_handles_labels()  # above the panels, clear of bars
    fig.legend(handles, labels, loc="upper center", ncol=len(roles), fontsize=8, frameon=False)
    return fig


def cka_figure(record: dict):
    """Linear CKA between the audited model and the original, stage by stage."""
    import matplotlib.pyplot as plt

    cka = record["cka"]
    fig, ax = plt.subplots(figsize=(4.5, 3.0))
    names = list(cka)
    ax.plot(range(len(names)), [_value(cka[n]) for n in names], marker="o", color="#0173b2")
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set(ylim=(0, 1.05), ylabel="linear CKA to the original",
           title="how far each stage moved")
    fig.tight_layout()
    return fig


def relearn_figure(record: dict):
    """Forget accuracy along the relearning attack, audited model beside the reference."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.0))
    for key, label, color in _present(record):
        curve = record["models"][key].get("relearn")
        if curve:
            ax.plot([p["step"] for p in curve], [_value(p["forget_acc"]) for p in curve],
                    marker="o", label=label, color=color,
                    linestyle="--" if key == "reference" else "-")
    ax.set(ylim=(-3, 103), xlabel="fine-tuning step", ylabel="forget accuracy (%)",
           title="relearning attack")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def figures(record: dict) -> dict:
    """``{name: matplotlib Figure}``: ``readouts``, and ``cka`` / ``relearn`` when measured."""
    out = {"readouts": readout_figure(record)}
    if record.get("cka"):
        out["cka"] = cka_figure(record)
    if any((m or {}).get("relearn") for m in record["models"].values()):
        out["relearn"] = relearn_figure(record)
    return out


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _cell(v, digits: int = 1, unit: str = "%") -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}{unit}"


def _table(record: dict) -> str:
    roles = _present(record)
    head = "".join(f"<th>{html.escape(label)}</th>" for _, label, _ in roles)
    rows = []
    for split in ("forget", "retain"):
        for key, label in READOUTS:
            cells = "".join(f"<td>{_cell(record['models'][r]['accuracy'][key][split])}</td>"
                            for r, _, _ in roles)
            rows.append(f"<tr><th>{label}, {split}</th>{cells}</tr>")
    extra = (("MIA-efficacy (forget)", lambda m: _cell(m.get("mia_efficacy"))),
             ("duality distance, forget rows", lambda m: _cell(
                 (m.get("duality") or {}).get("forget"), 3, "")),
             ("duality distance, retained rows", lambda m: _cell(
                 (m.get("duality") or {}).get("retain"), 3, "")),
             ("relearning: mean forget accuracy", lambda m: _cell(m.get("relearn_mean"))))
    for label, get in extra:
        cells = "".join(f"<td>{get(record['models'][r])}</td>" for r, _, _ in roles)
        rows.append(f"<tr><th>{label}</th>{cells}</tr>")
    return f"<table><tr><th>test accuracy</th>{head}</tr>{''.join(rows)}</table>"


_CSS = """body{font-family:system-ui,sans-serif;max-width:980px;margin:1.5em auto;padding:0 1em;
color:#222}h1{font-size:1.4em}.verdict{border-left:6px solid #0173b2;background:#eef5fb;
padding:.6em 1em;font-size:1.1em}.verdict.hidden,.verdict.not_forgotten,.verdict.relearnable
{border-color:#d55e00;background:#fdf0e8}table{border-collapse:collapse;margin:1em 0}
td,th{border-bottom:1px solid #ddd;padding:.25em .7em;text-align:right}th:first-child
{text-align:left;font-weight:normal}img{max-width:100%}.small{font-size:.85em;color:#555}"""


def render_html(record: dict, figs: dict | None = None) -> str:
    """The report page: verdict, table of numbers, figures, then how to read them."""
    figs = figures(record) if figs is None else figs
    v = record["verdict"]
    esc = html.escape
    details = "".join(f"<li>{esc(d)}</li>" for d in v["details"])
    imgs = "".join(f'<p><img alt="{esc(name)}" src="data:image/png;base64,{_png(fig)}"></p>'
                   for name, fig in figs.items())
    src = record.get("inputs", {})
    crit = v["criteria"]
    names = ", ".join(f"{c} ({record['classes'][c]})" for c in record["forget"])
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>illusion audit: {esc(str(src.get('model', 'model')))}</title><style>{_CSS}</style></head>
<body><h1>Unlearning audit</h1>
<p class="small">model <code>{esc(str(src.get('model', '')))}</code> · data
<code>{esc(str(src.get('data', '')))}</code> · forget class(es) {esc(names)} ·
{record['images']['train']} training / {record['images']['test']} test images of shape
{'×'.join(map(str, record['images']['shape']))} · features: {esc(str(
    record['models']['model']['taps']['features']))}</p>
<div class="verdict {esc(v['status'])}"><b>{esc(v['headline'])}</b><ul>{details}</ul></div>
{_table(record)}{imgs}
<h2>How to read this</h2><p class="small">Every readout is a test accuracy on the images of
the forget class(es) (and of the retained classes). <i>Output</i> is the model's own
prediction; the <i>linear probe</i> ([A]'s protocol), <i>nearest class mean</i> and
<i>k-NN</i> are fitted on the training images' penultimate features with true labels, so they
show what the features still separate. A model retrained without the class (the reference)
also separates it somewhat; the verdict compares with it: output within
{crit['output_margin']:g} points, feature readouts and the relearning attack within
{crit['feature_margin']:g} / {crit['relearn_margin']:g} points of the reference's count as
forgotten; retain accuracy more than {crit['retain_margin']:g} points below the reference's is
reported as damage. CKA near 1 means a stage barely moved from the original. MIA-efficacy is
the share of forget training images an SVC on confidences calls non-members (Retrain ≈ 100%).
The duality distance is 1 − cos between a class's classifier row and its centred mean
feature.</p><p class="small">Computed by <code>illusion audit</code> in
{record.get('seconds', 0):.0f} s.</p></body></html>
"""
