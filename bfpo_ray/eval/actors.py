"""Evaluation actors kept for a series of evaluations of models of one architecture (a compare curve's points)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import ray

from actors.ppo import spawn_rollout_engines
from actors.reference import spawn_reference
from actors.rollout import spawn_rollout
from bfpo_ray.config import RunConfig


def reuse_key(cfg: RunConfig) -> str | None:
    """What must match for an evaluation to reuse another's actors: the model's ``config.json`` and tokenizer
    files, its dtype and remote-code setting, the actors' resources and the eval batch size and tasks. None
    (never reuse) for a model that is not a local directory, or a vLLM engine (it loads weights only from
    a policy's sync)."""
    model = Path(cfg.model.path)
    if cfg.rollout.backend == "vllm" or not (model / "config.json").is_file():
        return None
    digest = hashlib.sha256()
    config = json.loads((model / "config.json").read_text())
    config.pop("_name_or_path", None)
    digest.update(json.dumps(config, sort_keys=True).encode())
    tokenizer = Path(cfg.model.tokenizer_path or model)
    for file in sorted([*tokenizer.glob("tokenizer*"), *tokenizer.glob("*.jinja"), *tokenizer.glob("special_tokens*")]):
        digest.update(file.name.encode() + file.read_bytes())
    settings = (cfg.model.dtype, cfg.model.trust_remote_code, repr(cfg.policy), repr(cfg.reference),
                cfg.eval.batch_size, cfg.eval.mc_tasks)
    digest.update(repr(settings).encode())
    return digest.hexdigest()


class EvalActors:
    """The rollout actor and, with multiple-choice tasks, the reference actor of an evaluation, kept for the
    next one while :func:`reuse_key` matches: that evaluation loads its weights into them (``load_model``)
    instead of starting new actors, whose start-up (imports, model load) is about half of an evaluation of
    the world's model here. A different key starts new ones. The rollout actor is an hf engine with the
    ``policy`` role's resources, or with ``rollout.backend=vllm`` a vLLM engine with the ``rollout`` role's
    resources and ``rollout.vllm_*`` settings (started anew each time). Use as a context manager, and close
    it before training needs the CPUs (or GPUs) the actors hold."""

    def __init__(self) -> None:
        self.key: str | None = None
        self.rollout: Any = None
        self.reference: Any = None
        self.started = 0  # rollout actors started (reuse shows as fewer starts than evaluations)

    def for_model(self, cfg: RunConfig) -> tuple[Any, Any | None]:
        """(rollout actor, reference actor or None) holding the weights at ``cfg.model.path``."""
        key = reuse_key(cfg)
        if key is not None and key == self.key:  # self.key is None whenever no actors are held
            ray.get([a.load_model.remote(str(cfg.model.path)) for a in (self.rollout, self.reference) if a is not None])
            return self.rollout, self.reference
        self.close()
        # the reference first: its start-up overlaps the rollout actor's
        self.reference = spawn_reference(cfg.model, cfg.reference) if cfg.eval.mc_tasks else None
        if cfg.rollout.backend == "vllm":
            self.rollout = spawn_rollout_engines(cfg.model, replace(cfg.rollout, num_workers=1), cfg.eval.seed)[0]
        else:
            self.rollout = spawn_rollout(cfg.model, cfg.policy, cfg.eval.batch_size)
        self.key = key
        self.started += 1
        return self.rollout, self.reference

    def close(self) -> None:
        for actor in (self.rollout, self.reference):
            if actor is not None:
                ray.kill(actor)
        self.rollout = self.reference = self.key = None

    def __enter__(self) -> EvalActors:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
