#!/usr/bin/env bash
# Safe-RLHF PPO-Lagrangian on a Ray cluster: reward model, cost model, then PPO (vLLM rollouts).
# Usage: RAY_ADDRESS=http://<head>:8265 examples/submit_ppo_lagrangian.sh [key=value ...]
# Output paths (runs/cluster/...) must be on storage every node sees (or set trainer.output_dir).
set -euo pipefail
cd "$(dirname "$0")/.."
submit() {
  ray job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" \
    --working-dir . --runtime-env examples/runtime_env.yaml -- \
    python -m bfpo_ray train --config "$1" ray.address=auto "${@:2}"
}
submit configs/cluster/rm.yaml
submit configs/cluster/cm.yaml
submit configs/cluster/ppo_lagrangian.yaml "$@"
