"""What the course is: chapters, Markdown, quizzes, glossary, search, the exercises' loader.

No FastAPI and no Dask here: the web process, the checker and precompute all load the course."""
