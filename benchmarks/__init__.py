"""Scripts that print figures, asserting nothing; a package so tests can import the fake endpoint."""
