"""Groups of N data-parallel workers of one role, placed with Ray placement groups.

Each role gets a placement group of ``num_workers`` bundles (one per worker, sized by the
role's ``num_cpus_per_worker``/``num_gpus_per_worker``). A role whose ``colocate_with``
names another role shares that role's bundles instead: bundle i then holds worker i of
both roles, which run one after another, so it is sized by the larger ask of each
(:func:`bfpo_ray.cluster_plan.bundle_of`); with ``alive_together`` (PPO, whose actors all live for the
whole run) it is sized by their sum (:func:`bfpo_ray.cluster_plan.summed_bundles`). Colocation is a
setting, not a code path.

:class:`TrainingGroup` wires N trainable ranks into one torch.distributed group (rank 0 finds the
port), shards batches across them and merges their metrics; :class:`PolicyGroup` is the policy's
(the critics' is :class:`actors.critic.CriticGroup`);
:class:`ReferenceGroup` spreads reference log-prob batches over its workers.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from actors.policy import PolicyActor
from actors.reference import ReferenceActor
from actors.resources import role_options
from bfpo_ray.cluster_plan import bundle_of, summed_bundles
from bfpo_ray.config import ModelConfig, RoleConfig
from bfpo_ray.workers.batching import batch_size, micro_batches
from bfpo_ray.workers.trainable import merge_metrics

Batch = dict[str, Any]
log = logging.getLogger(__name__)


class Placements:
    """Placement groups for a driver's roles, created on first use and removed on release."""

    def __init__(self, roles: dict[str, RoleConfig], strategy: str = "PACK", timeout_s: float = 600,
                 alive_together: bool = False) -> None:
        self.roles = roles
        self.strategy = strategy
        self.timeout_s = timeout_s
        self.alive_together = alive_together
        self._groups: dict[str, PlacementGroup] = {}

    def host_of(self, name: str) -> str:
        """The role whose bundles ``name`` uses (itself unless colocated with a role of this driver)."""
        host = self.roles[name].colocate_with
        return host if host and host in self.roles else name

    def sharers(self, host: str) -> list[str]:
        return [n for n in self.roles if self.host_of(n) == host]

    def group_or_none(self, name: str) -> PlacementGroup | None:
        """``name``'s placement group when it needs one (several workers, or bundles shared with another role);
        None: a single worker Ray may place anywhere."""
        host = self.host_of(name)
        shared = len(self.sharers(host)) > 1
        return self.get(name) if self.roles[name].num_workers > 1 or shared else None

    def get(self, name: str) -> PlacementGroup:
        host = self.host_of(name)
        if host not in self._groups:
            members, count = [self.roles[n] for n in self.sharers(host)], self.roles[host].num_workers
            bundles = summed_bundles(members, count) if self.alive_together else [bundle_of(members)] * count
            pg = placement_group(bundles, strategy=self.strategy, name="")
            if not pg.wait(self.timeout_s):
                remove_placement_group(pg)
                raise RuntimeError(f"placement group for {'+'.join(self.sharers(host))} ({bundles}) could not be "
                                   f"placed within {self.timeout_s:.0f}s; cluster: {ray.available_resources()}")
            self._groups[host] = pg
            log.info("placement group for %s: %s", "+".join(self.sharers(host)), bundles)
        return self._groups[host]

    def release(self, name: str, done: Sequence[str] = ()) -> None:
        """Remove ``name``'s placement group unless a role not in ``done`` still shares it."""
        host = self.host_of(name)
        if host in self._groups and all(n == name or n in done for n in self.sharers(host)):
            remove_placement_group(self._groups.pop(host))

    def close(self) -> None:
        for pg in self._groups.values():
            remove_placement_group(pg)
        self._groups.clear()


def spawn_ranks(actor_cls, role: RoleConfig, pg: PlacementGroup | None, args: tuple) -> list:
    """``role.num_workers`` actors, worker i in bundle i of ``pg``; without ``pg``, one freely scheduled actor."""
    if pg is None:
        if role.num_workers != 1:
            raise ValueError(f"{role.num_workers} workers need a placement group")
        return [actor_cls.options(**role_options(role)).remote(*args)]
    return [
        actor_cls.options(
            **role_options(role),
            scheduling_strategy=PlacementGroupSchedulingStrategy(pg, placement_group_bundle_index=i),
        ).remote(*args)
        for i in range(role.num_workers)
    ]


def shard_batch(batch: Batch, world: int) -> list[Batch]:
    """``world`` contiguous shards of a collated batch (pairs stay whole), each trimmed to its longest row; in row
    order, since callers concatenate the ranks' per-row outputs (old log-probs, values) back into the batch's."""
    n = batch_size(batch)
    if n < world:
        raise ValueError(f"a batch of {n} examples cannot be split across {world} workers")
    return list(micro_batches(batch, math.ceil(n / world), by_length=False))


class TrainingGroup:
    """``role.num_workers`` actors of ``actor_class`` training one model data-parallel (torch or DeepSpeed
    strategy): one plain actor without a placement group, else rank i in bundle i, wired into one
    torch.distributed group. Collective calls (ZeRO-3 gathers weights in every forward) reach every rank."""

    actor_class: Any = None
    role = "training"  # for the log

    def __init__(self, spec: Any, role: RoleConfig, pg: PlacementGroup | None) -> None:
        self.actors = spawn_ranks(self.actor_class, role, pg, (spec,))
        self.world_size = len(self.actors)
        if self.world_size > 1:
            self._connect()

    def _connect(self) -> None:
        """Rank 0 picks MASTER_ADDR/PORT (127.0.0.1 when the whole group is on one node); all ranks join."""
        found = ray.get([a.rendezvous.remote() for a in self.actors])
        node0, ip0, port0 = found[0]
        addr = "127.0.0.1" if all(node == node0 for node, _, _ in found) else ip0
        log.info("%s group: %d ranks on %d node(s), rendezvous %s:%d", self.role, self.world_size,
                 len({node for node, _, _ in found}), addr, port0)
        ray.get([a.init_distributed.remote(addr, port0, rank, self.world_size) for rank, a in enumerate(self.actors)])

    def describe(self) -> dict:
        return ray.get(self.actors[0].describe.remote())

    def submit(self, method: str, *args: Any) -> list:
        """Start ``method(*args)`` on every rank (collective methods need them all); the refs, rank 0's first."""
        return [getattr(actor, method).remote(*args) for actor in self.actors]

    def submit_row_shards(self, method: str, batch: Batch) -> list:
        """``method`` on equal full-width row shards, rank r on rows [r m, (r + 1) m) (full width, so per-row
        results concatenate in row order); the refs, rank 0's first."""
        rows = int(batch["input_ids"].shape[0])
        if rows % self.world_size:
            raise ValueError(f"{rows} rows cannot be split evenly across {self.world_size} workers")
        m = rows // self.world_size
        return [getattr(actor, method).remote({k: v[r * m:(r + 1) * m] for k, v in batch.items()})
                for r, actor in enumerate(self.actors)]

    @staticmethod
    def collect(refs: list) -> dict[str, float]:
        return merge_metrics(ray.get(refs))

    def save_pretrained(self, directory: str) -> str:
        return ray.get(self.submit("save_pretrained", directory))[0]

    def save_checkpoint(self, directory: str, trainer_state: dict, keep_last: int = 0) -> str:
        return ray.get(self.submit("save_checkpoint", directory, trainer_state, keep_last))[0]

    def load_checkpoint(self, directory: str) -> dict:
        return ray.get(self.submit("load_checkpoint", directory))[0]

    def kill(self) -> None:
        for actor in self.actors:
            ray.kill(actor)


class PolicyGroup(TrainingGroup):
    """N PolicyActors training one model data-parallel on (pair-aware) shards of every batch part."""

    actor_class = PolicyActor
    role = "policy"

    def submit_train_step(self, parts: dict[str, Batch]) -> list:
        """Start one optimizer step on every rank (rank r gets shard r of every part); returns refs."""
        if self.world_size == 1:
            return [self.actors[0].train_step.remote(parts)]
        shards = {name: shard_batch(batch, self.world_size) for name, batch in parts.items()}
        return [a.train_step.remote({name: shards[name][r] for name in parts}) for r, a in enumerate(self.actors)]

    def train_step(self, parts: dict[str, Batch]) -> dict[str, float]:
        return self.collect(self.submit_train_step(parts))


class ReferenceGroup:
    """N ReferenceActors sharing the reference log-prob precompute."""

    def __init__(self, model: ModelConfig, role: RoleConfig, pg: PlacementGroup) -> None:
        self.actors = spawn_ranks(ReferenceActor, role, pg, (model, role.torch_threads))

    def fingerprint(self) -> str:
        return ray.get(self.actors[0].fingerprint.remote())

    def logps_many(self, batches: list[Batch]) -> list:
        """Log-probs of every batch, batches dealt round-robin to the workers."""
        n = len(self.actors)
        return ray.get([self.actors[i % n].logps.remote(b) for i, b in enumerate(batches)])

    def kill(self) -> None:
        for actor in self.actors:
            ray.kill(actor)
