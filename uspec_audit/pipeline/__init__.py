"""A run as named stages: infer (:mod:`uspec_audit.engine`, the only stage that runs models) -> measure
(per-member metrics) -> analyze (ensemble statistics and the tables of each test kind) -> contracts ->
write (tables, reports, manifest). :func:`~uspec_audit.pipeline.run.execute_audit` runs them in order."""
