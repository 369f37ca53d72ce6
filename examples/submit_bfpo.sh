#!/usr/bin/env bash
# Submit a BFPO run to a Ray cluster. Usage:
#   RAY_ADDRESS=http://<head>:8265 examples/submit_bfpo.sh [examples/configs/bfpo_qwen0.5b.yaml] [key=value ...]
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-examples/configs/bfpo_qwen0.5b.yaml}
shift || true
exec ray job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" \
  --working-dir . --runtime-env examples/runtime_env.yaml -- \
  python -m bfpo_ray train --config "$CONFIG" ray.address=auto "$@"
