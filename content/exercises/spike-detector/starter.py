import math
from collections import deque

import torch


class SpikeDetector:
    def __init__(self, window: int = 20, threshold: float = 4.0, max_skips: int = 3):
        raise NotImplementedError

    def observe(self, loss: float) -> str:
        """'ok', 'skip' or 'rollback' for this step's loss."""
        raise NotImplementedError
