"""The course's widgets: each one a real computation with declared parameters.

`widgets.lab` holds the training lab (tiny GPT, data, trainer, optimizers,
schedules); the other modules here are one widget each, found by `registry`.
"""
