#!/usr/bin/env bash
# Safe-RLHF PPO-Lagrangian on a Ray cluster: reward model, cost model, then PPO (vLLM rollouts).
# Usage: RAY_ADDRESS=http://<head>:8265 OUT=/shared/bfpo examples/submit_ppo_lagrangian.sh [key=value ...]
# OUT must be a directory every node sees (each job runs in its own copy of the working dir, so relative
# output paths are refused on a cluster). The key=value overrides go to every stage.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to an absolute directory every node sees, e.g. OUT=/shared/bfpo}
submit() {
  ray job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" \
    --working-dir . --runtime-env examples/runtime_env.yaml -- \
    python -m bfpo_ray train --config "$1" ray.address=auto data.cache_dir="$OUT/cache" "${@:2}"
}
submit configs/cluster/rm.yaml trainer.output_dir="$OUT/rm" "$@"
submit configs/cluster/cm.yaml trainer.output_dir="$OUT/cm" "$@"
submit configs/cluster/ppo_lagrangian.yaml trainer.output_dir="$OUT/ppo_lagrangian" \
  reward.reward_model="$OUT/rm" reward.cost_model="$OUT/cm" "$@"
