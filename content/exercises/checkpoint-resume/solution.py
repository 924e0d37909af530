import torch


def save_checkpoint(path, *, model, optimizer, scheduler, data, step: int) -> None:
    """Everything the run needs to go on as if it had never stopped, in one file."""
    torch.save({
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),      # AdamW's m, v and step counts
        "scheduler": scheduler.state_dict(),      # where the LR schedule is
        "rng": torch.get_rng_state(),             # the next dropout masks
        "data_position": data.position,           # which batch comes next
        "data_generator": data.generator.get_state(),
        "step": step,
    }, path)


def load_checkpoint(path, *, model, optimizer, scheduler, data) -> int:
    """Restore every piece saved by save_checkpoint into freshly built objects; the step to go on from."""
    state = torch.load(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    data.position = state["data_position"]
    data.generator.set_state(state["data_generator"])
    return state["step"]
