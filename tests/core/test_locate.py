"""The TOML key -> line scanner used in error messages."""

from uspec_audit.config.locate import key_lines, line_of


def test_tables_arrays_and_inline_values():
    text = """[audit]
name = "x"
[ensembles.cnn]
preprocess = { layout = "NCHW",
  scale = 255.0 }
members = ["a",
 "b"]
[[tests]]
name = "iid"
[[tests]]
name = "b"
contract = { max_sd_ratio = 3.0 }
[[tests.perturbations]]
name = "p"
"""
    lines = key_lines(text)
    assert lines[("audit", "name")] == 2
    assert lines[("ensembles", "cnn", "preprocess")] == 4
    assert lines[("ensembles", "cnn", "members")] == 6
    assert lines[("tests", 0, "name")] == 9
    assert lines[("tests", 1, "name")] == 11
    assert lines[("tests", 1, "perturbations", 0, "name")] == 14
    # a key inside an inline table maps to its parent's line
    assert line_of(lines, ("tests", 1, "contract", "max_sd_ratio")) == 12
