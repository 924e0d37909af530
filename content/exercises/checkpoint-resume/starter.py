import torch


def save_checkpoint(path, *, model, optimizer, scheduler, data, step: int) -> None:
    """Everything the run needs to go on as if it had never stopped, in one file."""
    raise NotImplementedError


def load_checkpoint(path, *, model, optimizer, scheduler, data) -> int:
    """Restore every piece saved by save_checkpoint into freshly built objects; the step to go on from."""
    raise NotImplementedError
