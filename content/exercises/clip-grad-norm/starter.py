import torch


def clip_grad_norm_(parameters, max_norm: float) -> torch.Tensor:
    """Scale every .grad in place so that their global L2 norm is at most max_norm; return
    the global norm before clipping."""
    raise NotImplementedError
