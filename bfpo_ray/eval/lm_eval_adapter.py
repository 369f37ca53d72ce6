"""Run lm-evaluation-harness tasks on a checkpoint (optional ``eval`` extra).

The BFPO paper's discriminative list (truthfulqa_mc2, crows_pairs_english, ethics_*, toxigen,
winogrande, bigbench HHH/BBQ/moral permissibility, ...) goes in a cluster config's
``eval.lm_eval_tasks``; tasks may also be local YAML task files (``dataset_path: json``).
"""

from __future__ import annotations

import math
from typing import Any


def run_lm_eval(model_path: str, tasks: list[str], limit: int | None = None, batch_size: int = 8,
                include_path: str | None = None, device: str = "cpu",
                loglikelihoods: bool = False) -> dict[str, dict[str, Any]]:
    """Scores per task: every numeric metric lm-eval reports, NaNs dropped.

    ``loglikelihoods=True`` adds each document's per-choice log-likelihoods (multiple-choice tasks), in
    document order, under ``"loglikelihoods"``.
    """
    try:
        import lm_eval
    except ImportError as err:
        raise RuntimeError("eval.lm_eval_tasks needs lm-evaluation-harness: pip install 'bfpo-ray[eval]'") from err
    kwargs: dict[str, Any] = {}
    if include_path is not None:
        from lm_eval.tasks import TaskManager

        kwargs["task_manager"] = TaskManager(include_path=include_path)
    results = lm_eval.simple_evaluate(model="hf", model_args=f"pretrained={model_path},trust_remote_code=False",
                                      tasks=tasks, limit=limit, batch_size=batch_size, device=device,
                                      log_samples=loglikelihoods, **kwargs)
    out: dict[str, dict[str, Any]] = {}
    for task, metrics in results["results"].items():
        out[task] = {k: v for k, v in metrics.items()
                     if isinstance(v, int | float) and not (isinstance(v, float) and math.isnan(v))}
    for task, samples in (results.get("samples") or {}).items():
        ordered = sorted(samples, key=lambda s: s["doc_id"])
        out[task]["loglikelihoods"] = [[float(r[0][0]) for r in s["resps"]] for s in ordered]
    return out
