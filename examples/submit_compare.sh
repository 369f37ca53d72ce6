#!/usr/bin/env bash
# BFPO against its baselines on a real model: `bfpo-ray compare` trains every method of the
# compare config one after another on the cluster and writes one report.
# Usage: RAY_ADDRESS=http://<head>:8265 examples/submit_compare.sh [compare.yaml] [key=value ...]
# OUT must be a directory every node sees (relative output paths are refused on a cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to an absolute directory every node sees, e.g. OUT=/shared/bfpo}
CONFIG=${1:-examples/configs/compare_qwen0.5b.yaml}
shift || true
exec ray job submit --address "${RAY_ADDRESS:-http://127.0.0.1:8265}" \
  --working-dir . --runtime-env examples/runtime_env.yaml -- \
  python -m bfpo_ray compare --config "$CONFIG" output_dir="$OUT/$(basename "$CONFIG" .yaml)" "$@"
