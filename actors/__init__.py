"""Ray actor classes: thin remote wrappers over the plain workers in ``bfpo_ray.workers``."""
