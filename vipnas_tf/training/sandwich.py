"""Which sub-networks a training step trains (the sandwich rule), seeded by the step.

Sampling depends only on (seed, step), never on a generator's history, so a run that
resumes at step s trains exactly the architectures an uninterrupted run would have.
"""
from typing import List

import numpy as np

from vipnas_tf.arch.arch import Arch


class SandwichSampler:
    """Biggest, smallest and `num_random` random sub-networks of a space per step.

    Args:
      space: a SearchSpace.
      num_random: N random members (paper: 2).
      seed: run seed.

    Example:
      >>> s = SandwichSampler(get_space("mobilenetv3"), num_random=2, seed=0)
      >>> s.vectors(10).shape        # [2 + N, L] int32, row 0 = biggest
    """

    def __init__(self, space, num_random=2, seed=0):
        if num_random < 0:
            raise ValueError(f"num_random must be >= 0, got {num_random}")
        self.space = space
        self.num_random = int(num_random)
        self.seed = int(seed)
        self._max = space.max()
        self._min = space.min()

    @property
    def member_names(self) -> List[str]:
        return ["max", "min"] + [f"rand{i + 1}" for i in range(self.num_random)]

    @property
    def num_members(self) -> int:
        return 2 + self.num_random

    def archs(self, step) -> List[Arch]:
        rng = np.random.default_rng([self.seed, int(step), 7])
        return [self._max, self._min] + [self.space.sample(rng) for _ in range(self.num_random)]

    def vectors(self, step) -> np.ndarray:
        return np.stack([self.space.encode(a) for a in self.archs(step)]).astype(np.int32)


class FixedSampler:
    """Stand-alone training: one fixed architecture every step (no distillation)."""

    def __init__(self, space, arch):
        space.validate(arch)
        self.space = space
        self.arch = arch
        self.member_names = ["arch"]
        self.num_members = 1

    def archs(self, step) -> List[Arch]:
        return [self.arch]

    def vectors(self, step) -> np.ndarray:
        return self.space.encode(self.arch)[None].astype(np.int32)
