"""The training lab: real PyTorch training of a tiny character-level GPT.

No web code lives here. Modules:
  data       - the tiny Shakespeare corpus, its characters, the train/val split, batches
  model      - the tiny GPT, able to hold several runs' weights side by side
  schedules  - learning-rate schedules (closed forms, used through a real scheduler)
  optim      - the course's own optimizers (SGD ... AdamW, Muon), run-stacked
  clip       - global-norm gradient clipping
  trainer    - trains several configurations in lockstep on the same batches
"""
