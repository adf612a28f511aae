"""Progress of long jobs: human ETA, quiet off a terminal, a bar on one."""
import io
import sys

from inr_gan_tf import progress


def test_eta_reads_in_human_units():
    assert [progress.eta(s) for s in (0, 12.4, 754, 9000, -5)] == ["0s", "12s", "12m34s", "2h30m", "0s"]


def test_quiet_unless_asked_or_on_a_terminal(capsys):
    bar = progress.Progress(10, "work")  # pytest's stdout is not a terminal
    bar.update(4)
    bar.close()
    assert capsys.readouterr().out == "" and bar.count == 4


def test_shows_count_and_rate_when_enabled(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    for total in (10, None):  # None: an unknown total still counts
        bar = progress.Progress(total, "writing", enabled=True, unit="seed")
        bar.update(3)
        bar.update(7)
        bar.close()
    text = out.getvalue()
    assert "writing" in text and "seed/s" in text and "10/10" in text
