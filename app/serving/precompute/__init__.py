"""Precomputed slider moves: fill the cache before learners ask.

What is precomputed, in this order:
  distance 0  every widget's defaults, every placement in the chapters (with the
              directive's own parameters) and every predict question's run
  distance d  from each of those, every one-control move d grid positions away: each
              slider position on its grid (as the browser's range input snaps it), each
              toggle flipped and each other choice (a flip or a choice counts as distance 1);
              at each distance the main controls go before the advanced ones
Typed values (number inputs) and text are not sliders and are not moved.

Three modules, one job each:
  moves.py       the planner: which settings, nearest first (also the start-up pre-render's
                 order, app/web/views/prerender.py, and the load bench's moves)
  cli.py         `python -m app precompute [--radius N] [--widget NAME] [--limit N] [--dry-run]`:
                 a progress bar with an ETA; skips what is already cached (so it resumes where
                 an interrupted run stopped; Ctrl-C stops it cleanly) and ends with the count
                 and CPU time
  background.py  BackgroundFill: the same inside the web process whenever the engine is idle,
                 at the lowest priority, giving way as soon as a learner asks for anything
"""
