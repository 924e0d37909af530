"""Views: turn course objects and results into template contexts and HTML fragments."""
