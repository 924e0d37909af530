import torch


class LossScaler:
    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
        raise NotImplementedError

    def scale(self, loss):
        raise NotImplementedError

    def unscale_(self, optimizer):
        """Divide every gradient by the scale (once per step) and note any inf or nan."""
        raise NotImplementedError

    def step(self, optimizer) -> bool:
        """Unscale the gradients unless unscale_ already did; step unless one is inf or nan.
        True if it stepped."""
        raise NotImplementedError

    def update(self):
        raise NotImplementedError

    def get_scale(self) -> float:
        raise NotImplementedError


def clipped_step(scaler, loss, optimizer, max_norm):
    """One mixed-precision step with clipping; returns the gradient norm before clipping."""
    raise NotImplementedError
