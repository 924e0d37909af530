import torch


class LossScaler:
    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
        self._scale = float(init_scale)
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval
        self._good_steps = 0
        self._skipped = False

    def scale(self, loss):
        return loss * self._scale

    @torch.no_grad()
    def step(self, optimizer) -> bool:
        """Unscale the gradients; step unless one is inf or nan. True if it stepped."""
        finite = True
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad.div_(self._scale)
                finite = finite and bool(torch.isfinite(p.grad).all())
        self._skipped = not finite
        if finite:
            optimizer.step()
        return finite

    def update(self):
        if self._skipped:
            self._scale *= self.backoff_factor
            self._good_steps = 0
        else:
            self._good_steps += 1
            if self._good_steps == self.growth_interval:
                self._scale *= self.growth_factor
                self._good_steps = 0

    def get_scale(self) -> float:
        return self._scale
