"""Deterministic batch order: which examples form the batch of optimizer step k.

Epoch e visits the examples in a permutation seeded by (seed, e); the last incomplete
batch of an epoch is skipped. Because the batch of step k is a pure function of k, a
resumed run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

import random


class BatchSchedule:
    """Batches of ``batch_size`` indices into ``num_examples`` examples, epoch after epoch."""

    def __init__(self, num_examples: int, batch_size: int, seed: int, shuffle: bool = True) -> None:
        if num_examples < batch_size:
            raise ValueError(f"{num_examples} examples cannot fill one batch of {batch_size}")
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.steps_per_epoch = num_examples // batch_size
        self._epoch = -1
        self._order: list[int] = []

    def _order_of(self, epoch: int) -> list[int]:
        if epoch != self._epoch:
            order = list(range(self.num_examples))
            if self.shuffle:
                random.Random(f"{self.seed}:{epoch}").shuffle(order)
            self._epoch, self._order = epoch, order
        return self._order

    def indices(self, step: int) -> list[int]:
        """The example indices of optimizer step ``step`` (0-based)."""
        epoch, offset = divmod(step, self.steps_per_epoch)
        start = offset * self.batch_size
        return self._order_of(epoch)[start : start + self.batch_size]

    def epoch_of(self, step: int) -> float:
        return step / self.steps_per_epoch
