"""Inference: plan the audit's work units, load members, stream every (dataset, variant) once through them and
cache the predictions (:mod:`~uspec_audit.engine.infer` is the run's infer stage). The rest of a run is
:mod:`uspec_audit.pipeline`."""
