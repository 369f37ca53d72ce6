"""Ray actor classes: thin remote wrappers over the plain workers in ``bfpo_ray.workers``."""

from bfpo_ray.lean_imports import skip_transformers_sklearn

skip_transformers_sklearn()
