"""Command line: ``bfpo-ray train|eval|compare|plan|world|demo`` (also ``python -m bfpo_ray``)."""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from bfpo_ray.config import WORLD_VERSIONS, ConfigError, load_config
from bfpo_ray.data.errors import DataError
from bfpo_ray.drivers.setup import TrainingStopped
from bfpo_ray.logs import setup_logging

WHERE = """algorithms: sft, bfpo, dpo, ipo (offline); rm, cm (reward and cost models); ppo (bilinear, linear,
  lagrangian rewards)
configs:    configs/demo/*.yaml (SFT and the offline methods on the safety world), configs/world/*.yaml
  (rm, cm, ppo on the safety world), configs/cluster/*.yaml (real data sets, GPUs)
keys:       every key with its default and meaning is in bfpo_ray/config.py (one dataclass per section);
  README.md explains them by topic. Override any key on the command line: trainer.max_steps=100"""
COMPARE_WHERE = """configs:    configs/demo/compare.yaml (the demo), configs/demo/compare_all.yaml (the demo and the
  offline baselines), configs/world/compare_full.yaml (3 seeds, compute curves)
keys:       every key with its default and meaning is in bfpo_ray/compare/config.py; README.md, "Comparing
  methods". Override any key on the command line: seeds=[1,2]"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bfpo-ray", formatter_class=argparse.RawDescriptionHelpFormatter, epilog=WHERE,
        description="Align language models with BFPO and its DPO/IPO/PPO baselines on Ray actors.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text, config_help in (
            ("train", "train one model (sft, bfpo, dpo, ipo, rm, cm, ppo)",
             "run config YAML (required), e.g. configs/demo/bfpo.yaml"),
            ("eval", "evaluate a model directory on the safety world's held-out prompts",
             "run config YAML whose eval section is used (optional: model.path=DIR is enough)")):
        cmd = sub.add_parser(name, help=help_text, description=help_text, epilog=WHERE,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        cmd.add_argument("--config", help=config_help)
        cmd.add_argument("overrides", nargs="*", help="key=value overrides, e.g. trainer.max_steps=100")
    compare_help = "train and evaluate several methods side by side"
    compare = sub.add_parser("compare", help=compare_help, description=compare_help, epilog=COMPARE_WHERE,
                             formatter_class=argparse.RawDescriptionHelpFormatter)
    compare.add_argument("--config", required=True, help="compare YAML (e.g. configs/demo/compare.yaml)")
    compare.add_argument("overrides", nargs="*", help="key=value overrides of the compare config")
    world = sub.add_parser("world", help="build the built-in safety world (data, tokenizer, tiny model)")
    world.add_argument("--out", default="runs/world")
    world.add_argument("--seed", type=int, default=0)
    world.add_argument("--version", default=None, choices=WORLD_VERSIONS,
                       help="default: the newest (3); 2 reproduces older results")
    plan = sub.add_parser("plan", help="print each role's bundles, GPUs and nodes; exit 1 if the run cannot be placed")
    plan.add_argument("--config", required=True, help="run or compare YAML")
    plan.add_argument("--nodes", type=int, help="cluster shape (default: the running cluster's)")
    plan.add_argument("--gpus-per-node", type=int, default=0)
    plan.add_argument("--cpus-per-node", type=float, help="default: 8 per GPU")
    plan.add_argument("overrides", nargs="*", help="key=value overrides of the config")
    demo = sub.add_parser("demo", help="BFPO vs its baselines on the safety world, trained and evaluated side by side")
    demo.add_argument("overrides", nargs="*", help="key=value overrides of configs/demo/compare.yaml")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    try:
        if args.command == "train":
            from bfpo_ray.drivers import train_by_algorithm

            if args.config is None:
                raise ConfigError("train needs --config FILE (e.g. configs/demo/bfpo.yaml; see bfpo-ray train --help)")
            train_by_algorithm(load_config(args.config, args.overrides))
        elif args.command == "eval":
            from bfpo_ray.eval.naming import eval_files
            from bfpo_ray.eval.run import evaluate_run

            cfg = load_config(args.config, args.overrides, for_training=False)
            name = evaluate_run(cfg)["name"]
            report, samples = eval_files(Path(cfg.model.path), name)
            print(f"evaluation '{name}' written to {report} and {samples}")
        elif args.command == "compare":
            from bfpo_ray.compare.config import load_compare_config
            from bfpo_ray.compare.runner import run_compare

            results = run_compare(load_compare_config(args.config, args.overrides))
            return 0 if any(r.status == "ok" for r in results) else 1
        elif args.command == "world":
            from bfpo_ray.world import build_world_base_model

            version = {"version": args.version} if args.version else {}
            print(build_world_base_model(args.out, seed=args.seed, **version))
        elif args.command == "plan":
            from bfpo_ray.plan_cli import run_plan

            return run_plan(args.config, args.overrides, args.nodes, args.gpus_per_node, args.cpus_per_node)
        elif args.command == "demo":
            from bfpo_ray.demo import run_demo

            run_demo(overrides=args.overrides)
    except (ConfigError, DataError, TrainingStopped) as err:
        print(f"bfpo-ray: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, ConfigError) else 1
    except OSError as err:  # the machine's files or network (here or in an actor): one line, no traceback
        print(f"bfpo-ray: error: {os_error_line(err)}", file=sys.stderr)
        return 1
    return 0


def os_error_line(err: OSError) -> str:
    """One line for an OSError raised here or inside an actor (Ray's error then carries it as ``cause``)."""
    cause = getattr(err, "cause", None)
    cause = cause if isinstance(cause, OSError) else err
    if cause.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"disk full while writing {cause.filename or 'a file'}; the checkpoints already written are "
                "intact: free space and resume with trainer.resume=auto")
    text = str(cause).strip().splitlines()
    return " ".join(text[0].split()) if text else type(cause).__name__
