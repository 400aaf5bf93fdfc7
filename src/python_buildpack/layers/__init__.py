"""One module per layer this buildpack writes."""
