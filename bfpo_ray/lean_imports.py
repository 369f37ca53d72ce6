"""Import-time savings for the processes that load models (every Ray actor imports :mod:`actors` first)."""

from __future__ import annotations


def skip_unused_transformers_backends() -> None:
    """Tell transformers that scikit-learn and SciPy are absent, before its model and generation modules load.

    transformers imports ``sklearn.metrics`` (about 2.5 s of CPU per process, measured here) only for
    assisted generation's dynamic confidence threshold, and ``scipy.optimize`` (about 0.6 s, ``python -X
    importtime``) only for the Hungarian matching of object-detection losses; bfpo-ray uses neither, and
    every actor process would pay for both (a PPO run starts 6-7). Both stay importable for other code
    (lm-eval uses scikit-learn).
    """
    import transformers.utils

    transformers.utils.is_sklearn_available = lambda: False
    transformers.utils.is_scipy_available = lambda: False
