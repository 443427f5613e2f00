"""pytest plugin: virtual device fixtures (filled in by the virtual device work)."""
