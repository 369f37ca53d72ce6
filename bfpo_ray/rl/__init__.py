"""Pieces of multi-objective PPO as pure functions: KL estimators, reward combination, GAE, lambda."""
