"""Hand-off to experiment trackers (W&B, MLflow, Comet): sinks, a wrapper, and ``gymscope push``."""
