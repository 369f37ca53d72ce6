"""``bfpo-ray plan``: print what a run (or every run of a compare config) asks Ray for, and where it lands.

    bfpo-ray plan --config configs/cluster/ppo_bilinear.yaml --nodes 1 --gpus-per-node 4 --cpus-per-node 32
    bfpo-ray plan --config examples/configs/bfpo_qwen0.5b.yaml      # shape of the running cluster (RAY_ADDRESS)

Exit 0 when every run fits, 1 with one line naming roles and numbers when one cannot be placed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf import OmegaConf

from bfpo_ray.cluster_plan import Node, PlanError, check_fits, format_plan, live_nodes, shape
from bfpo_ray.config import ConfigError, RunConfig, load_config


def runs_of(path: str, overrides: list[str]) -> list[tuple[str, RunConfig]]:
    """(name, config) of the run file, or of every stage and trained method of a compare file."""
    raw = OmegaConf.load(path) if Path(path).is_file() else None
    if raw is None or "methods" not in raw:
        return [(path, load_config(path, overrides))]
    from bfpo_ray.compare.config import load_compare_config

    compare = load_compare_config(path, overrides)
    entries = [(s.name, s.config, s.overrides) for s in compare.stages]
    entries += [(m.name, m.config, m.overrides) for m in compare.methods if m.config]
    return [(name, load_config(config, [o.replace("${output_dir}", compare.output_dir) for o in extra]))
            for name, config, extra in entries]


def cluster_shape(nodes: int | None, gpus_per_node: int, cpus_per_node: float | None) -> tuple[list[Node], str]:
    """Nodes from the options, else from the running Ray cluster; and a one-line description."""
    if nodes is not None:
        if nodes < 1 or gpus_per_node < 0 or (cpus_per_node is not None and cpus_per_node <= 0):
            raise ConfigError("plan: --nodes must be >= 1, --gpus-per-node >= 0, --cpus-per-node > 0")
        cpus = cpus_per_node if cpus_per_node is not None else 8.0 * max(gpus_per_node, 1)
        return shape(nodes, gpus_per_node, cpus), f"{nodes} node(s) x {gpus_per_node} GPUs x {cpus:g} CPUs (given)"
    import ray

    try:
        ray.init(address="auto", log_to_driver=False, configure_logging=False)
    except ConnectionError as err:
        raise ConfigError("plan: no running Ray cluster (set RAY_ADDRESS or give --nodes/--gpus-per-node)") from err
    try:
        found = live_nodes()
    finally:
        ray.shutdown()
    return found, f"{len(found)} live node(s): " + ", ".join(f"{n.gpus} GPUs x {n.cpus:g} CPUs" for n in found)


def run_plan(config: str, overrides: list[str], nodes: int | None, gpus_per_node: int,
             cpus_per_node: float | None) -> int:
    """Print the plan of every run; 0 when all fit, 1 (one line on stderr) when one does not."""
    runs = runs_of(config, overrides)
    cluster, described = cluster_shape(nodes, gpus_per_node, cpus_per_node)
    print(f"cluster: {described}")
    for name, cfg in runs:
        try:
            placed = check_fits(cfg, cluster)
        except PlanError as err:
            print(f"bfpo-ray: error: {name} ({cfg.algorithm.name}): {err}", file=sys.stderr)
            return 1
        print(f"{name} ({cfg.algorithm.name}): fits")
        for line in format_plan(placed):
            print(f"  {line}")
    return 0
