"""One router per resource; `app.main.routers()` lists them."""
