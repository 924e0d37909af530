import torch


class LossScaler:
    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
        self._scale = float(init_scale)
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval
        self._good_steps = 0
        self._unscaled = False  # this step's gradients are already divided by the scale
        self._found_inf = False

    def scale(self, loss):
        return loss * self._scale

    @torch.no_grad()
    def unscale_(self, optimizer):
        """Divide every gradient by the scale (once per step) and note any inf or nan."""
        if self._unscaled:
            raise RuntimeError("unscale_() has already been called since the last update()")
        finite = True
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad.div_(self._scale)
                finite = finite and bool(torch.isfinite(p.grad).all())
        self._found_inf = not finite
        self._unscaled = True

    def step(self, optimizer) -> bool:
        """Unscale the gradients unless unscale_ already did; step unless one is inf or nan.
        True if it stepped."""
        if not self._unscaled:
            self.unscale_(optimizer)
        if self._found_inf:
            return False
        optimizer.step()
        return True

    def update(self):
        if self._found_inf:
            self._scale *= self.backoff_factor
            self._good_steps = 0
        else:
            self._good_steps += 1
            if self._good_steps == self.growth_interval:
                self._scale *= self.growth_factor
                self._good_steps = 0
        self._unscaled = False
        self._found_inf = False

    def get_scale(self) -> float:
        return self._scale


def clipped_step(scaler, loss, optimizer, max_norm):
    """One mixed-precision step with clipping; returns the gradient norm before clipping."""
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    scaler.step(optimizer)
    scaler.update()
    return norm
