"""illusion: a reproducible companion to two 2026 machine-unlearning papers.

[A] Gao, Unal, Rangamani, Zhu, *An Illusion of Unlearning?* (AISTATS 2026, arXiv:2604.08271).
[B] Lee, Kim, Kim, *Erase at the Core* (arXiv:2602.05375).
"""

__version__ = "0.1.0"
