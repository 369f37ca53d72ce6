#!/usr/bin/env bash
# Submit a BFPO run to a Ray cluster. Usage:
#   RAY_ADDRESS=http://<head>:8265 OUT=/shared/bfpo examples/submit_bfpo.sh [examples/configs/bfpo_qwen0.5b.yaml] [key=value ...]
# OUT must be a directory every node sees (relative output paths are refused on a cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to an absolute directory every node sees, e.g. OUT=/shared/bfpo}
CONFIG=${1:-examples/configs/bfpo_qwen0.5b.yaml}
shift || true
exec ray job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" \
  --working-dir . --runtime-env examples/runtime_env.yaml -- \
  python -m bfpo_ray train --config "$CONFIG" ray.address=auto trainer.output_dir="$OUT/$(basename "$CONFIG" .yaml)" \
  data.cache_dir="$OUT/cache" "$@"
