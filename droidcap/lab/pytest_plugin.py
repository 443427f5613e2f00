"""pytest plugin: RTMP lab fixtures (filled in by the lab work)."""
