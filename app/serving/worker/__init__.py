"""What runs on a Dask worker: one widget job, its progress reports and figure deltas.

Imports only the run keys (app.serving.keys), the settings and `widgets`."""
