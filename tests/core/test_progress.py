"""Progress bars: a step with a known total counts up to it; a step without one never shows "0/?"."""

from rich.console import Console

from uspec_audit.engine.progress import RichProgress


def _render(total):
    console = Console(record=True, width=100, force_terminal=True)
    with RichProgress(console).step("Ensemble statistics", total) as advance:
        for _ in range(total or 0):
            advance()
    return console.export_text()


def test_step_without_total_shows_no_count_out_of_unknown():
    text = _render(None)
    assert "Ensemble statistics" in text
    assert "/?" not in text and "0/" not in text


def test_step_with_total_counts_to_it():
    assert "3/3" in _render(3)
