"""A copyable uspec-audit plugin: one perturbation and one metric."""

__version__ = "0.1.0"
