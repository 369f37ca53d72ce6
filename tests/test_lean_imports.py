"""Actor processes skip transformers' eager scikit-learn and SciPy imports (about 3 s of CPU each) and still work."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_actor_modules_load_without_sklearn_or_scipy():
    code = ("import sys, actors.policy, actors.rollout, actors.reward, actors.critic, actors.reference; "
            "import transformers.generation.candidate_generator, transformers.loss.loss_utils; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"
