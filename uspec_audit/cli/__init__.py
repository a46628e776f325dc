"""The ``uspec-audit`` command line."""
