"""Import-time savings for the processes that load models (every Ray actor imports :mod:`actors` first)."""

from __future__ import annotations


def skip_transformers_sklearn() -> None:
    """Tell transformers that scikit-learn is absent, before its generation module is imported.

    transformers imports ``sklearn.metrics`` (about 2.5 s of CPU per process, measured here) only for
    assisted generation's dynamic confidence threshold, which bfpo-ray never uses; every actor process
    would pay for it (a PPO run starts 6-7). scikit-learn itself stays importable (lm-eval uses it).
    """
    import transformers.utils

    transformers.utils.is_sklearn_available = lambda: False
