import torch


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """[{"params": decayed, "weight_decay": weight_decay}, {"params": others, "weight_decay": 0.0}]"""
    raise NotImplementedError
