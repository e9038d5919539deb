"""``illusion audit``: is an unlearned model hiding the class it was meant to forget?

A user's own classifier (TorchScript, a state dict with ``--arch``, or an explicitly trusted
pickle) is measured on the user's own data with the project's metrics, side by side with a
reference (a Retrain of the same architecture) and the original model, and judged in words.

* :mod:`.loading` turns MODEL / ``--arch`` into an ``nn.Module`` and fits the data to it;
* :mod:`.taps` reads logits, penultimate features and per-stage features in one pass;
* :mod:`.measure` computes every number of the audit (pure: tensors and modules in, dict out);
* :mod:`.verdict` turns the numbers into a judgement, with its margins as named constants;
* :mod:`.report` draws the figures and renders the self-contained HTML page;
* :mod:`.command` is the command line (the only part that reads and writes files).
"""

from .verdict import Readouts, Verdict, judge

__all__ = ["Readouts", "Verdict", "judge"]
