"""What a run asks Ray for, and whether a cluster of a given shape can ever hold it.

Mirrors the drivers' requests role by role:

- offline (sft, bfpo, dpo, ipo): one placement group per role of ``num_workers`` bundles; a role with
  ``colocate_with`` shares its host's bundles, sized by the MAX of the sharers (they run one after
  another); a reference that is not colocated is released before the policy group is made.
- rm / cm: one scalar-model actor with the ``policy`` role's resources.
- ppo: all alive at once: ``policy.num_workers`` policy ranks (a placement group of that many bundles when
  more than one), plain actors for the reference, ``rollout.num_workers`` engines, reward, one critic group
  (two for lagrangian) of ``critic.num_workers`` ranks each (placed like the policy's) and, for bilinear,
  one more engine with the reference weights. ``reference``, ``reward`` and ``critic`` may set
  ``colocate_with: policy``: worker i of each sharer joins bundle i of the policy's group, sized by the SUM
  of what its workers ask (they are alive together).

Fractional GPUs are packed per GPU the way Ray does (0.25 of ONE device; above 1 only whole devices).
:func:`plan` raises :class:`PlanError` with one line naming the roles and the numbers when the run can
never be placed, so a driver can fail before ``ray.get`` waits forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bfpo_ray.config import ConfigError, RayConfig, RoleConfig, RunConfig

Bundle = dict[str, float]
EPS = 1e-9


class PlanError(ConfigError):
    """The run's resource requests can never be placed on the cluster."""


@dataclass
class Request:
    """One role's workers: ``bundles`` held together during ``phase`` (roles of one phase are alive at once)."""

    role: str
    bundles: list[Bundle]
    phase: int = 0
    strategy: str = "PACK"  # placement-group strategy; independent actors behave like PACK
    actors: int = 0  # the actors these bundles host when some share a bundle (PPO colocation); 0: one per bundle

    @property
    def actor_count(self) -> int:
        return self.actors or len(self.bundles)


@dataclass
class Node:
    """A node's shape and what is left of it during one phase."""

    cpus: float
    gpus: int
    cpu_free: float = 0.0
    gpu_free: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self.cpu_free, self.gpu_free = self.cpus, [1.0] * self.gpus

    def take(self, bundle: Bundle) -> list[int] | None:
        """Reserve ``bundle`` here if it fits: the GPU indices it got, else None."""
        cpu, gpu = bundle.get("CPU", 0.0), bundle.get("GPU", 0.0)
        if cpu > self.cpu_free + EPS:
            return None
        if gpu <= 0:
            picked: list[int] = []
        elif gpu <= 1:
            fits = [i for i, free in enumerate(self.gpu_free) if free + EPS >= gpu]
            if not fits:
                return None
            best = min(fits, key=lambda i: self.gpu_free[i])  # fill partly used devices first
            picked = [best]
            self.gpu_free[best] -= gpu
        else:
            whole = [i for i, free in enumerate(self.gpu_free) if free >= 1 - EPS]
            if len(whole) < gpu:
                return None
            picked = whole[: int(gpu)]
            for i in picked:
                self.gpu_free[i] = 0.0
        self.cpu_free -= cpu
        return picked


@dataclass
class Placed:
    role: str
    worker: int
    bundle: Bundle
    node: int
    gpus: list[int]
    phase: int


def bundle_of(roles: Sequence[RoleConfig]) -> Bundle:
    """One bundle hosting one worker of each of ``roles`` (colocated roles take turns: the max of each)."""
    cpus = max(r.num_cpus_per_worker for r in roles)
    gpus = max(r.num_gpus_per_worker for r in roles)
    out = {"CPU": max(cpus, 0.01)}
    if gpus > 0:
        out["GPU"] = gpus
    return out


def _role(role: RoleConfig) -> Bundle:
    return bundle_of([role])


def summed_bundles(roles: Sequence[RoleConfig], count: int) -> list[Bundle]:
    """``count`` bundles hosting roles that are alive together: bundle i holds worker i of every role that has
    one, so it asks for the SUM of their CPUs and GPUs."""
    bundles = []
    for i in range(count):
        members = [r for r in roles if r.num_workers > i]
        gpus = sum(r.num_gpus_per_worker for r in members)
        bundle = {"CPU": max(sum(r.num_cpus_per_worker for r in members), 0.01)}
        bundles.append({**bundle, "GPU": gpus} if gpus > 0 else bundle)
    return bundles


def ppo_critic_names(cfg: RunConfig) -> list[str]:
    """PPO's value heads: ``reward`` always, ``cost`` for lagrangian."""
    return ["reward", "cost"] if cfg.algorithm.reward == "lagrangian" else ["reward"]


def requests_of(cfg: RunConfig) -> list[Request]:
    """What the driver of ``cfg.algorithm.name`` asks Ray for."""
    name = cfg.algorithm.name
    if name in ("rm", "cm"):
        return [Request("policy", [_role(cfg.policy)])]
    if name == "ppo":
        return _ppo_requests(cfg)
    roles = {"policy": cfg.policy} if name == "sft" else {"reference": cfg.reference, "policy": cfg.policy}
    training = _offline_requests(roles, cfg.ray.placement_strategy)
    if cfg.online.rounds == 0:
        return training
    # online BFPO, every round: generate (engines), then label (scoring actors), then train; one phase each
    scorers = labelling_actors(cfg)
    labelling = [Request("labeller", [_role(cfg.reward)] * scorers, 1)] if scorers else []
    return [Request("rollout", [_role(cfg.rollout)] * cfg.rollout.num_workers, 0), *labelling,
            *(replace(r, phase=r.phase + 2) for r in training)]


def labelling_actors(cfg: RunConfig) -> int:
    """The actors online BFPO's labelling starts (``reward`` role): one for the reward and/or cost model, one
    for an HF classifier."""
    o = cfg.online
    return int(o.ranker == "reward_model" or o.labeller == "cost_model") + int(o.labeller == "classifier")


def ppo_roles(cfg: RunConfig) -> dict[str, RoleConfig]:
    """PPO's actor roles as the plan names them; every one is alive for the whole run."""
    roles = {"policy": cfg.policy, "reference": cfg.reference, "rollout": cfg.rollout, "reward": cfg.reward,
             **{f"critic ({name})": cfg.critic for name in ppo_critic_names(cfg)}}
    if cfg.algorithm.reward == "bilinear":
        roles["baseline engine"] = replace(cfg.rollout, num_workers=1)
    return roles


def _ppo_requests(cfg: RunConfig) -> list[Request]:
    roles = ppo_roles(cfg)
    guests = [n for n, role in roles.items() if n != "policy" and role.colocate_with]  # validated: with policy
    groups = cfg.ray.placement_strategy
    out = []
    for n, role in roles.items():
        if n in guests:
            continue
        if n == "policy" and guests:
            members = [role, *(roles[g] for g in guests)]
            out.append(Request("+".join(["policy", *guests]), summed_bundles(members, role.num_workers),
                               strategy=groups, actors=sum(m.num_workers for m in members)))
        else:
            grouped = n == "policy" or n.startswith("critic")
            out.append(Request(n, [_role(role)] * role.num_workers, strategy=groups if grouped else "PACK"))
    return out


def _offline_requests(roles: dict[str, RoleConfig], strategy: str) -> list[Request]:
    def host_of(n: str) -> str:
        host = roles[n].colocate_with
        return host if host and host in roles else n

    out: list[Request] = []
    for phase, host in enumerate(dict.fromkeys(host_of(n) for n in roles)):
        sharers = [n for n in roles if host_of(n) == host]
        bundle = bundle_of([roles[n] for n in sharers])
        out.append(Request("+".join(sharers), [bundle] * roles[host].num_workers, phase, strategy))
    return out


def _describe(requests: list[Request]) -> str:
    parts = []
    for r in requests:
        gpu = r.bundles[0].get("GPU", 0.0)
        count = f"{len(r.bundles)}x" if len(r.bundles) > 1 else ""
        parts.append(f"{r.role} {count}{gpu:g}")
    return ", ".join(parts)


def plan(requests: list[Request], nodes: list[Node]) -> list[Placed]:
    """Place every bundle, phase by phase (first fit, largest GPU ask first); PlanError if one cannot be."""
    placed: list[Placed] = []
    for phase in sorted({r.phase for r in requests}):
        group = [r for r in requests if r.phase == phase]
        for node in nodes:
            node.reset()
        items = [(r, i, b) for r in group for i, b in enumerate(r.bundles)]
        items.sort(key=lambda x: (-x[2].get("GPU", 0.0), -x[2].get("CPU", 0.0)))
        used: dict[str, set[int]] = {}
        for req, worker, bundle in items:
            candidates = range(len(nodes))
            if req.strategy == "STRICT_PACK" and req.role in used:
                candidates = sorted(used[req.role])
            elif req.strategy == "STRICT_SPREAD":
                candidates = [i for i in candidates if i not in used.get(req.role, set())]
            for index in candidates:
                gpus = nodes[index].take(bundle)
                if gpus is not None:
                    placed.append(Placed(req.role, worker, bundle, index, gpus, phase))
                    used.setdefault(req.role, set()).add(index)
                    break
            else:
                raise PlanError(_why(req, bundle, group, nodes))
    return placed


def _why(req: Request, bundle: Bundle, group: list[Request], nodes: list[Node]) -> str:
    need_gpu = sum(b.get("GPU", 0.0) for r in group for b in r.bundles)
    need_cpu = sum(b.get("CPU", 0.0) for r in group for b in r.bundles)
    have_gpu = sum(n.gpus for n in nodes)
    have_cpu = sum(n.cpus for n in nodes)
    ask = ", ".join(f"{k} {v:g}" for k, v in bundle.items())
    return (f"cannot place {req.role} (a worker needs {ask}): roles alive together need {need_gpu:g} GPUs "
            f"({_describe(group)}) and {need_cpu:g} CPUs; the cluster has {have_gpu:g} GPUs and {have_cpu:g} CPUs "
            f"on {len(nodes)} node(s) of at most {max(n.gpus for n in nodes)} GPUs")


def shape(nodes: int, gpus_per_node: int, cpus_per_node: float) -> list[Node]:
    """``nodes`` identical nodes."""
    return [Node(cpus_per_node, gpus_per_node) for _ in range(nodes)]


def live_nodes() -> list[Node]:
    """The shape of the Ray cluster this process is connected to (alive nodes, total resources)."""
    import ray

    return [Node(float(n["Resources"].get("CPU", 0)), int(n["Resources"].get("GPU", 0)))
            for n in ray.nodes() if n.get("Alive")]


def run_nodes(ray_cfg: RayConfig) -> list[Node]:
    """The cluster a run will get, without starting one: the Ray this process is connected to, the cluster
    at ``ray.address`` (or RAY_ADDRESS; connected briefly), else the embedded local Ray's shape."""
    import os

    import ray

    if ray.is_initialized():
        return live_nodes()
    address = ray_cfg.address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
        try:
            return live_nodes()
        finally:
            ray.shutdown()
    import torch

    return [Node(float(ray_cfg.num_cpus or os.cpu_count() or 1), torch.cuda.device_count())]


def check_fits(cfg: RunConfig, nodes: list[Node] | None = None) -> list[Placed]:
    """Plan ``cfg`` on ``nodes`` (default: the run's cluster, :func:`run_nodes`); PlanError naming roles and
    numbers. Drivers call it first, so a run that can never be placed fails before ``ray.get`` waits."""
    return plan(requests_of(cfg), nodes if nodes is not None else run_nodes(cfg.ray))


def format_plan(placed: list[Placed]) -> list[str]:
    """One line per role: workers, bundle, GPUs in all, and the nodes (and GPU devices) they land on."""
    lines = []
    for role in dict.fromkeys(p.role for p in placed):
        mine = [p for p in placed if p.role == role]
        bundle = ", ".join(f"{k} {v:g}" for k, v in mine[0].bundle.items())
        gpus = sum(p.bundle.get("GPU", 0.0) for p in mine)
        where = "; ".join(f"node {p.node}" + (f" gpu {','.join(map(str, p.gpus))}" if p.gpus else "") for p in mine)
        lines.append(f"phase {mine[0].phase}  {role:<18} {len(mine)} x {{{bundle}}}  GPUs {gpus:g}  -> {where}")
    return lines
