"""Ensemble statistics of docs/methods.md, one module per family.

Modules: :mod:`spread`, :mod:`correlation`, :mod:`disagreement`,
:mod:`permutation`, :mod:`jackknife`, :mod:`nested`, :mod:`pca`,
:mod:`calibration`, :mod:`marginalize`, :mod:`bootstrap`, :mod:`rex`,
:mod:`verdicts`; :mod:`analyze` assembles the result tables.
"""
