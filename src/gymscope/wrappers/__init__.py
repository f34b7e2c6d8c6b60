"""gymscope's wrappers; each is a thin adapter from EpisodeRecord to a sink."""
