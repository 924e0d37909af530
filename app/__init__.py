"""The course web app: FastAPI routes, Markdown chapters, widget views, progress."""
