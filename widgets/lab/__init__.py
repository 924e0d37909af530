"""The training lab: real PyTorch training of a tiny character-level GPT.

No web code lives here. Modules:
  data       - the tiny Shakespeare corpus, its characters, the train/val split, batches
  model      - the tiny GPT, able to hold several runs' weights side by side
  flat       - the model's parameters in flat per-group buffers (few, big optimizer ops)
  schedules  - learning-rate schedules (closed forms, used through a real scheduler)
  optim      - the course's own optimizers (SGD ... AdamW), run-stacked, per-run step counts
  clip       - global-norm gradient clipping
  trainer    - the one training loop: several configurations in lockstep, with hooks
  recovery   - skip and rollback after a loss spike (a trainer hook)
  layer_health - per-layer telemetry (a trainer hook) and the faults the layer-health lab plants
  corrupt    - bad batches
  branching, muon, precision, bugs - what individual labs add to the loop
  reference  - a plain nanoGPT-style model and loop: the tests' and the benchmark's oracle
"""
