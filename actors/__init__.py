"""Ray actor classes: thin remote wrappers over the plain workers in ``bfpo_ray.workers``."""

from bfpo_ray.lean_imports import skip_unused_transformers_backends

skip_unused_transformers_backends()
