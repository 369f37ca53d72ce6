"""Command line: ``bfpo-ray train|eval|compare|world|demo`` (also ``python -m bfpo_ray``)."""

from __future__ import annotations

import argparse
import logging
import sys

from bfpo_ray.config import ConfigError, load_config
from bfpo_ray.data.errors import DataError
from bfpo_ray.drivers.setup import TrainingStopped


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bfpo-ray", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (("train", "train one model (sft, bfpo, dpo, ipo, rm, cm, ppo)"),
                            ("eval", "evaluate a checkpoint on the safety world")):
        cmd = sub.add_parser(name, help=help_text)
        cmd.add_argument("--config", help="YAML config file")
        cmd.add_argument("overrides", nargs="*", help="key=value overrides (OmegaConf dotlist)")
    compare = sub.add_parser("compare", help="train and evaluate several methods side by side")
    compare.add_argument("--config", required=True, help="compare YAML (e.g. configs/demo/compare.yaml)")
    compare.add_argument("overrides", nargs="*", help="key=value overrides of the compare config")
    world = sub.add_parser("world", help="build the built-in safety world (data, tokenizer, tiny model)")
    world.add_argument("--out", default="runs/world")
    world.add_argument("--seed", type=int, default=0)
    demo = sub.add_parser("demo", help="BFPO vs its baselines on the safety world, trained and evaluated side by side")
    demo.add_argument("overrides", nargs="*", help="key=value overrides of configs/demo/compare.yaml")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        if args.command == "train":
            from bfpo_ray.drivers import train_by_algorithm

            train_by_algorithm(load_config(args.config, args.overrides))
        elif args.command == "eval":
            from bfpo_ray.eval.run import evaluate_run

            evaluate_run(load_config(args.config, args.overrides))
        elif args.command == "compare":
            from bfpo_ray.compare.config import load_compare_config
            from bfpo_ray.compare.runner import run_compare

            results = run_compare(load_compare_config(args.config, args.overrides))
            return 0 if any(r.status == "ok" for r in results) else 1
        elif args.command == "world":
            from bfpo_ray.world import build_world_base_model

            print(build_world_base_model(args.out, seed=args.seed))
        elif args.command == "demo":
            from bfpo_ray.demo import run_demo

            run_demo(overrides=args.overrides)
    except (ConfigError, DataError, TrainingStopped) as err:
        print(f"bfpo-ray: error: {err}", file=sys.stderr)
        return 2 if isinstance(err, ConfigError) else 1
    return 0
