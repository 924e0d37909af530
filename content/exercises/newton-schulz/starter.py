import torch


def newton_schulz(G: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """An approximately semi-orthogonal matrix of G's shape (quintic Newton-Schulz)."""
    raise NotImplementedError
