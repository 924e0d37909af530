import torch


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """[{"params": decayed, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]"""
    decay, no_decay = [], []
    for _, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (decay if p.dim() >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
