"""Single-controller driver for self-labelled and online BFPO (``algorithm.name: bfpo``, ``online.rounds`` >= 1).

    prompts of data.train (no labels read) -> for each round r of R:
        generate   samples_per_prompt responses per prompt from the round's starting policy (rollout engines,
                   hf or vllm, rollout.num_workers of them, each loading the round's weights)
        label      safety (online.labeller) and helpfulness (online.ranker) per response; pairs per prompt
                   (online.pairing) -> rounds/round-<r>/pairs.jsonl (pair schema + provenance), responses.jsonl,
                   labels.json (counts, oracle agreement, tokens)
        train      BFPO on those pairs (+ data.buffer): a complete offline run in rounds/round-<r>/policy
                   (trainer.max_steps steps, its own checkpoints), reference = the first round's start
                   (online.reference=fixed) or this round's start (refresh)
    -> the last round's weights in trainer.output_dir, usage.json (generation + labelling + training),
       metrics.jsonl (one row per round)

Resuming (``trainer.resume=auto``) skips finished rounds, reuses a round's labels once ``labels.json`` is
written (generation is redone if it was cut short: same seeds, same responses on the hf backend) and resumes
the round's training from its newest checkpoint. The engines and scoring actors of a round are stopped
before it trains, so a machine that holds either phase holds the run.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections import Counter
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import ray

from actors.ppo import spawn_rollout_engines
from bfpo_ray.checkpoint import atomic_write_text
from bfpo_ray.cluster_plan import labelling_actors
from bfpo_ray.config import DataSourceConfig, ModelConfig, RunConfig
from bfpo_ray.data.prompts import Prompt, load_prompts
from bfpo_ray.data.tokenize import ChatEncoder
from bfpo_ray.drivers import offline
from bfpo_ray.drivers.ppo import collate_rollout, generate
from bfpo_ray.drivers.setup import prepare_run_dir, start_checks
from bfpo_ray.online.labelling import Labeller, oracle_agreement, pair_rows
from bfpo_ray.ray_session import ray_session
from bfpo_ray.rollout.types import Sampling
from bfpo_ray.run_log import RunLog, read_metrics
from bfpo_ray.usage import Usage, actor_cpu_seconds, load_usage
from bfpo_ray.workers.modeling import load_tokenizer

log = logging.getLogger(__name__)

#: the files of a saved HF model that the run directory gets from the last round
_MODEL_FILES = ("*.safetensors", "config.json", "generation_config.json", "tokenizer*", "special_tokens_map.json",
                "*.jinja", "vocab.*", "merges.txt")


def round_dir(out: Path, r: int) -> Path:
    return out / "rounds" / f"round-{r:02d}"


def round_policy(out: Path, r: int) -> Path:
    """Where round ``r`` trains; its final HF weights once the round is done."""
    return round_dir(out, r) / "policy"


def round_done(out: Path, r: int) -> bool:
    policy = round_policy(out, r)
    return (policy / "usage.json").is_file() and (policy / "config.json").is_file()


def train(cfg: RunConfig) -> Path:
    """Run every round; returns the run directory (the last round's weights in HF format)."""
    start_checks(cfg)
    tokenizer = load_tokenizer(cfg.model)
    encoder = ChatEncoder(tokenizer, cfg.data.max_length, cfg.data.max_prompt_length)
    prompts = load_prompts(cfg.data.train, cfg.data, encoder, cfg.trainer.seed)
    log.info("online bfpo: %d distinct prompts, %d rounds", len(prompts), cfg.online.rounds)
    out = prepare_run_dir(cfg)
    usages: list[Usage] = []
    with ray_session(cfg.ray):
        for r in range(cfg.online.rounds):
            if not (round_dir(out, r) / "labels.json").is_file():
                generate_and_label(cfg, prompts, r, tokenizer)
            if not round_done(out, r):
                offline.train(round_config(cfg, r), reference=reference_of(cfg, r))
                if not round_done(out, r):  # trainer.exit_after_steps cut the round short
                    log.info("exiting in round %d; resume with trainer.resume=auto", r)
                    return out
            usages.append(round_usage(out, r))
    finish(cfg, out, usages)
    log.info("finished %d rounds; policy in %s", cfg.online.rounds, out)
    return out


def start_of(cfg: RunConfig, r: int) -> ModelConfig:
    """The weights round ``r`` starts from: the configured model, then the previous round's result."""
    if r == 0:
        return cfg.model
    return replace(cfg.model, path=str(round_policy(Path(cfg.trainer.output_dir), r - 1)),
                   tokenizer_path=cfg.model.tokenizer_path)


def reference_of(cfg: RunConfig, r: int) -> ModelConfig:
    return cfg.model if cfg.online.reference == "fixed" else start_of(cfg, r)


def round_config(cfg: RunConfig, r: int) -> RunConfig:
    """The offline BFPO run of round ``r``: its labelled pairs (+ the configured buffer), from its start."""
    out = Path(cfg.trainer.output_dir)
    pairs = DataSourceConfig(path=str(round_dir(out, r) / "pairs.jsonl"), schema="pair")
    return replace(cfg, model=start_of(cfg, r), online=replace(cfg.online, rounds=0),
                   data=replace(cfg.data, train=[pairs]),
                   trainer=replace(cfg.trainer, output_dir=str(round_policy(out, r)), resume="auto",
                                   overwrite=False, seed=cfg.trainer.seed + r))


def round_sampling(cfg: RunConfig, r: int) -> Sampling:
    ro = cfg.rollout
    return Sampling(ro.max_new_tokens, ro.temperature, ro.top_p, seed=cfg.trainer.seed * 1000 + r)


def generate_and_label(cfg: RunConfig, prompts: list[Prompt], r: int, tokenizer) -> None:
    """Round ``r``'s responses, labels and pairs, written to its directory (``labels.json`` last)."""
    o, directory = cfg.online, round_dir(Path(cfg.trainer.output_dir), r)
    directory.mkdir(parents=True, exist_ok=True)
    start, sampling = start_of(cfg, r), round_sampling(cfg, r)
    rows = [p for p in prompts for _ in range(o.samples_per_prompt)]
    began = time.perf_counter()
    engines = spawn_rollout_engines(start, cfg.rollout, sampling.seed)
    try:
        gens = generate(engines, [p.ids for p in rows], sampling)
        cpu = {"rollout": sum(actor_cpu_seconds(e) for e in engines)}
    finally:
        for engine in engines:
            ray.kill(engine)
    generate_seconds = time.perf_counter() - began
    texts, prompt_texts = [g.text for g in gens], [p.text for p in rows]
    began = time.perf_counter()
    labeller = Labeller(cfg)
    try:
        labels = labeller.label(collate_rollout(gens, tokenizer), prompt_texts, texts)
        cpu["labeller"] = labeller.cpu_seconds()
    finally:
        labeller.close()
    label_seconds = time.perf_counter() - began
    provenance = {"round": r, "policy": start.path, "labeller": o.labeller, "ranker": o.ranker,
                  "sampling": asdict(sampling), "backend": cfg.rollout.backend}
    pairs, dropped = pair_rows(prompts, texts, labels, o.samples_per_prompt, o.pairing, o.tie_margin, provenance)
    if not pairs:
        raise RuntimeError(f"round {r}: no pair could be built from {len(texts)} responses "
                           f"(dropped: {dict(dropped)}); the policy's responses are all alike or all tied")
    combinations = Counter(f"{p['chosen_safe']}{p['rejected_safe']}" for p in pairs)  # (s_w, s_l), e.g. "01"
    stats = {"round": r, "prompts": len(prompts), "responses": len(texts), "pairs": len(pairs),
             "dropped": dict(dropped), "generate_seconds": generate_seconds, "label_seconds": label_seconds,
             "generated_tokens": sum(len(g.token_ids) for g in gens), "labelling_forward_tokens": labels.forward_tokens,
             "cpu_seconds": cpu, "gpu_seconds": {
                 "rollout": cfg.rollout.num_gpus_per_worker * cfg.rollout.num_workers * generate_seconds,
                 "labeller": cfg.reward.num_gpus_per_worker * labelling_actors(cfg) * label_seconds},
             "label_combinations": dict(sorted(combinations.items())),
             "oracle": oracle_agreement(prompt_texts, texts, labels, pairs), **provenance}
    samples = [{"prompt": t, "response": y, "safe": int(s), "score": h, "round": r}
               for t, y, s, h in zip(prompt_texts, texts, labels.safe, labels.score, strict=True)]
    atomic_write_text(directory / "responses.jsonl", "".join(json.dumps(s) + "\n" for s in samples))
    atomic_write_text(directory / "pairs.jsonl", "".join(json.dumps(p) + "\n" for p in pairs))
    atomic_write_text(directory / "labels.json", json.dumps(stats, indent=2))
    log.info("round %d: %d pairs from %d responses (dropped %s); oracle agreement %s", r, len(pairs), len(texts),
             dict(dropped), stats["oracle"])


def round_usage(out: Path, r: int) -> Usage:
    """What round ``r`` cost: its training's usage plus generation and labelling (at the policy's size)."""
    usage = load_usage(round_policy(out, r))
    assert usage is not None, f"round {r} has no usage.json"
    stats = json.loads((round_dir(out, r) / "labels.json").read_text())
    usage.add(Usage(wall_seconds=stats["generate_seconds"] + stats["label_seconds"],
                    cpu_seconds=stats["cpu_seconds"], gpu_seconds={k: v for k, v in stats["gpu_seconds"].items() if v},
                    forward_tokens=stats["labelling_forward_tokens"], generated_tokens=stats["generated_tokens"],
                    parameters=usage.parameters))
    return usage


def round_row(out: Path, r: int, usage: Usage, before: float) -> dict[str, Any]:
    """Round ``r``'s metrics row: its label statistics, training steps and the run's cumulative FLOPs
    (``before`` + this round's)."""
    stats = json.loads((round_dir(out, r) / "labels.json").read_text())
    trained = read_metrics(round_policy(out, r))
    return {"round": r + 1, "pairs": stats["pairs"], "train_steps": int(trained[-1]["step"]) if trained else 0,
            **{f"dropped_{k}": v for k, v in stats["dropped"].items()},
            **{f"label_{k}": v for k, v in stats["oracle"].items()},
            "round_flops": usage.flops, "cumulative_flops": before + usage.flops,
            "round_wall_seconds": usage.wall_seconds}


def finish(cfg: RunConfig, out: Path, usages: list[Usage]) -> None:
    """metrics.jsonl (a row per round, ``step`` = round), usage.json (every round's) and the last round's
    weights in ``out``."""
    (out / "metrics.jsonl").unlink(missing_ok=True)
    run_log = RunLog(out, 0, total=len(usages), progress=False)
    total = Usage()
    try:
        for r, usage in enumerate(usages):
            run_log.log(r + 1, round_row(out, r, usage, total.flops))
            total.add(usage)
    finally:
        run_log.close()
    total.notes.append(f"{cfg.online.rounds} rounds: generation, labelling and training of each "
                       "(labelling models counted at the policy's size)")
    last = round_policy(out, cfg.online.rounds - 1)
    for pattern in _MODEL_FILES:
        for file in last.glob(pattern):
            shutil.copy2(file, out / file.name)
    total.save(out)  # last: usage.json marks the run finished
