"""A copyable uspec-audit plugin: a perturbation, a metric, a loader and a dataset source with options."""

__version__ = "0.2.0"
