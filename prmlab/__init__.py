"""prmlab: a lab for process reward models (step judges)."""

__version__ = "0.1.0"
