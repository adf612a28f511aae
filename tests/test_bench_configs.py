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


TINY = ["--data=procedural", "--resolution=16", "--g_blocks=16:16:1:8:3", "--nofourier", "--z_dim=16",
        "--mapping_width=16", "--mapping_layers=1", "--d_channel_base=128", "--d_channel_max=16",
        "--batch_size=4", "--r1_interval=1"]


def test_against_times_both_configurations_as_written(bench, monkeypatch):
    # A flagfile change is priced as a ratio to the flagfile before it, each with its own patch share.
    monkeypatch.chdir(ROOT)  # measure() works from the checkout; restored after the test
    monkeypatch.setattr(bench, "CONFIGS", {"base": TINY, "new": TINY + ["--patch_ratio=0.5"]})
    rows = bench.measure("new", xla=False, precision="float32", steps=1, warmup=1, threads=1,
                         patch_ratio=0.75, against="base")
    assert [(r["config"], r["patch_ratio"]) for r in rows] == [("base", 0.0), ("new", 0.5)]
    assert rows[1]["step_time_ratio_median"] == rows[1]["step_seconds_median"] / rows[0]["step_seconds_median"]


def test_against_an_unknown_configuration_is_one_line(bench, capsys):
    assert bench.main(["--against=nope", "--configs=quickstart_32"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--against" in err and "nope" in err and len(err.splitlines()) == 1
