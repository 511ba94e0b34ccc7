"""belen's ComponentResources, one per file, and the pure settings package they are built from."""
