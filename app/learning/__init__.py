"""What a learner has done: progress and answers (SQLite). No FastAPI here."""
