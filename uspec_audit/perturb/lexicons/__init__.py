"""Word-substitution lexicons shipped with uspec-audit (TOML files; see ``gender_swap.toml``)."""
