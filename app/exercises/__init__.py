"""Grading learners' code: the sandbox (bubblewrap), grading and training jobs, export.

`sandboxed/` holds files copied into the sandbox as text, never imported."""
