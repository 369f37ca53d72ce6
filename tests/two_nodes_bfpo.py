"""A 2-worker BFPO run on a 2-node Ray cluster on this machine (run by tests/test_two_nodes.py).

    python tests/two_nodes_bfpo.py WORLD_DIR OUT_DIR

Each node has ONE logical CPU and each worker asks for one, so the two policy ranks (and the two
reference workers before them) can only run on different nodes. Outputs go to OUT_DIR, an absolute
directory both nodes see. The run stops after step 1, then resumes from its checkpoint to step 2.
"""

from __future__ import annotations

import logging
import os
import sys

import ray
from ray.cluster_utils import Cluster


def overrides(world: str, out: str, extra: list[str]) -> list[str]:
    return [f"world.dir={world}", f"model.path={world}/base", f"trainer.output_dir={out}/run",
            f"data.cache_dir={out}/cache", "data.train[0].fraction=0.05", "data.buffer[0].fraction=0.05",
            "trainer.train_batch_size=8", "trainer.micro_batch_size=4", "trainer.max_steps=2",
            "trainer.save_every=1", "trainer.log_every=1", "policy.num_workers=2", "reference.num_workers=2",
            "policy.num_cpus_per_worker=1", "reference.num_cpus_per_worker=1", "policy.torch_threads=1",
            "reference.torch_threads=1", *extra]


def main(world: str, out: str) -> None:
    from bfpo_ray.config import load_config
    from bfpo_ray.drivers import train_by_algorithm

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    try:
        ray.init(address=cluster.address, log_to_driver=False)
        cluster.wait_for_nodes()
        print(f"NODES {len([n for n in ray.nodes() if n['Alive']])}", flush=True)
        train_by_algorithm(load_config("configs/demo/bfpo.yaml", overrides(world, out, ["trainer.exit_after_steps=1"])))
        print("PARTIAL DONE", flush=True)
        train_by_algorithm(load_config("configs/demo/bfpo.yaml", overrides(world, out, ["trainer.resume=auto"])))
        print("RESUMED DONE", flush=True)
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main(sys.argv[1], sys.argv[2])
