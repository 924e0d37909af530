"""Everything that knows a Request: routes, views, dependencies, errors, security, limits, schema."""
