import torch


def clip_grad_norm_(parameters, max_norm: float) -> torch.Tensor:
    """Scale every .grad in place so that their global L2 norm is at most max_norm; return
    the global norm before clipping."""
    if isinstance(parameters, torch.Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.tensor(0.0)
    total_norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
    factor = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(factor)
    return total_norm
