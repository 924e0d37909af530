import math
from collections import deque

import torch


class SpikeDetector:
    def __init__(self, window: int = 20, threshold: float = 4.0, max_skips: int = 3):
        self.losses = deque(maxlen=window)
        self.window = window
        self.threshold = threshold
        self.max_skips = max_skips
        self.spikes_in_a_row = 0

    def observe(self, loss: float) -> str:
        """'ok', 'skip' or 'rollback' for this step's loss."""
        loss = float(loss)
        if not math.isfinite(loss):
            self.spikes_in_a_row = 0
            return "rollback"
        if len(self.losses) == self.window:
            kept = torch.tensor(list(self.losses), dtype=torch.float64)
            limit = float(kept.mean() + self.threshold * kept.std(correction=0))
            if loss > limit:
                self.spikes_in_a_row += 1
                if self.spikes_in_a_row >= self.max_skips:
                    self.spikes_in_a_row = 0
                    return "rollback"
                return "skip"
        self.spikes_in_a_row = 0
        self.losses.append(loss)
        return "ok"
