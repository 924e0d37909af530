"""Runs and results: run keys, the result cache, the engine (Dask), jobs, precompute.

No FastAPI here. `serving.worker` is all a Dask worker imports."""
