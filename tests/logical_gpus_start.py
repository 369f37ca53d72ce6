"""Start every actor of cluster configs on a Ray node with LOGICAL GPUs (run by tests/test_cluster_plan.py).

    python tests/logical_gpus_start.py WORLD_DIR GPUS CPUS CONFIG [CONFIG ...]

Each config runs with tiny-model overrides (the world's base model, float32, hf rollouts, the oracle
judge, one torch thread) but its own workers, GPUs, colocation and strategy. The driver's own code makes
the actors (placement groups + policy/reference groups, the scalar actor, PPO's spawn_actors); every actor
must answer within a deadline, so a request Ray cannot place shows up as a failure, never as a hang.
Prints one JSON line per config: GPU ids each actor sees, per role; then what a zero-GPU role sees.
"""

from __future__ import annotations

import json
import os
import sys

import ray

DEADLINE_S = 240


def tiny(world: str) -> list[str]:
    roles = ("policy", "reference", "rollout", "reward", "critic")
    return [f"model.path={world}/base", "model.dtype=float32", "world.dir=" + world, "rollout.backend=hf",
            "reward.source=oracle", "strategy.bf16=false", *[f"{r}.torch_threads=1" for r in roles]]


def visible(actor) -> str:
    return ray.get(actor.__ray_call__.remote(lambda _: os.environ.get("CUDA_VISIBLE_DEVICES", "unset")),
                   timeout=DEADLINE_S)


def start_offline(cfg) -> dict[str, list[str]]:
    from actors.group import Placements, PolicyGroup, ReferenceGroup
    from bfpo_ray.drivers.offline import policy_spec

    roles = {"policy": cfg.policy} if cfg.algorithm.name == "sft" else {"policy": cfg.policy,
                                                                        "reference": cfg.reference}
    placements = Placements(roles, cfg.ray.placement_strategy, timeout_s=DEADLINE_S)
    seen: dict[str, list[str]] = {}
    try:
        if "reference" in roles:
            reference = ReferenceGroup(cfg.model, cfg.reference, placements.get("reference"))
            seen["reference"] = [visible(a) for a in reference.actors]
            reference.kill()
            placements.release("reference")
        policy = PolicyGroup(policy_spec(cfg, 10), cfg.policy, placements.get("policy"))
        seen["policy"] = [visible(a) for a in policy.actors]
        policy.kill()
    finally:
        placements.close()
    return seen


def start_scalar(cfg) -> dict[str, list[str]]:
    from actors.critic import spawn_scalar
    from bfpo_ray.workers.scalar_model import ScalarSpec

    spec = ScalarSpec(kind="reward" if cfg.algorithm.name == "rm" else "cost", model=cfg.model, optim=cfg.optim,
                      total_steps=10, micro_batch_size=cfg.trainer.micro_batch_size, seed=0, torch_threads=1)
    actor = spawn_scalar(spec, cfg.policy)
    seen = {"policy": [visible(actor)]}
    ray.kill(actor)
    return seen


def start_ppo(cfg) -> dict[str, list[str]]:
    from bfpo_ray.drivers.ppo_actors import spawn_actors

    actors = spawn_actors(cfg, 10)
    seen = {"policy": [visible(a) for a in actors.policy.actors], "reference": [visible(actors.reference)],
            "rollout": [visible(e) for e in actors.engines], "reward": [visible(actors.reward)],
            **{f"critic ({name})": [visible(a) for a in c.actors] for name, c in actors.critics.items()}}
    if actors.baseline is not None:
        seen["baseline engine"] = [visible(actors.baseline)]
    for actor in actors.handles():
        ray.kill(actor)
    actors.placements.close()
    return seen


def zero_gpu_visible() -> str:
    """What an actor of a role without GPUs sees on this GPU node."""
    from actors.resources import role_options
    from bfpo_ray.config import RoleConfig

    probe = ray.remote(lambda: os.environ.get("CUDA_VISIBLE_DEVICES", "unset"))
    options = role_options(RoleConfig(num_cpus_per_worker=0.1, num_gpus_per_worker=0))
    return ray.get(probe.options(num_cpus=options["num_cpus"], num_gpus=0,
                                 runtime_env=options["runtime_env"]).remote(), timeout=DEADLINE_S)


def main(argv: list[str]) -> None:
    from bfpo_ray.cluster_plan import check_fits
    from bfpo_ray.config import load_config
    from bfpo_ray.ray_session import start_local_ray

    world, gpus, cpus, configs = argv[0], int(argv[1]), float(argv[2]), argv[3:]
    start_local_ray(num_cpus=cpus, num_gpus=gpus, log_to_driver=False)  # retried if the node misses its 30 s
    try:
        for path in configs:
            cfg = load_config(path, tiny(world))
            check_fits(cfg)  # the live cluster (logical GPUs)
            start = {"ppo": start_ppo, "rm": start_scalar, "cm": start_scalar}.get(cfg.algorithm.name, start_offline)
            print(json.dumps({"config": path, "visible": start(cfg)}), flush=True)
        print(json.dumps({"zero_gpu_role": zero_gpu_visible()}), flush=True)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(sys.argv[1:])
