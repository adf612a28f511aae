"""tools/bench_train.py's configurations: each is a valid train command line, and the earlier
quickstarts keep the flags they were measured with."""
import pytest
from helpers import ROOT, load_tool, train_config


@pytest.fixture(scope="module")
def bench():
    return load_tool("bench_train")


def test_every_bench_config_is_a_train_command(bench, monkeypatch):
    monkeypatch.chdir(ROOT)  # the flagfile's path is relative to the checkout, as in the README
    for name, flags_ in bench.CONFIGS.items():
        cfg = train_config(*flags_)
        assert cfg["generator"]["resolution"] in (32, 64), name


def test_earlier_quickstarts_time_what_they_timed(bench, monkeypatch):
    # Rows measured on an earlier quickstart stay comparable only while its config keeps that era's
    # flags on top of today's flagfile.
    monkeypatch.chdir(ROOT)
    session17 = train_config(*bench.CONFIGS["quickstart_32_session17"])
    assert session17["generator"]["rank"] == 10 and not session17.get("jitter", False)
    assert session17["generator"].get("antialias", 1) == 1
    assert session17["optim"].get("lr_rampdown_kimg", 0) == 0  # recorded only when set
    two_blocks = train_config(*bench.CONFIGS["quickstart_32_two_blocks"])
    assert len(two_blocks["generator"]["blocks"]) == 2 and two_blocks["generator"]["upsampling"] == "bilinear"
