"""tools/bench_train.py's configurations: each is a valid train command line, and the earlier
quickstarts keep the flags they were measured with."""
import importlib.util
import pathlib

import pytest

from inr_gan_tf import cli
from inr_gan_tf.cli import train
from inr_gan_tf.training import options

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_train", ROOT / "tools" / "bench_train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(flags_):
    return options.run_config(cli.parse(train.COMMAND, list(flags_)))


@pytest.fixture(scope="module")
def bench():
    return _bench()


def test_every_bench_config_is_a_train_command(bench, monkeypatch):
    monkeypatch.chdir(ROOT)  # the flagfile's path is relative to the checkout, as in the README
    for name, flags_ in bench.CONFIGS.items():
        cfg = _config(flags_)
        assert cfg["generator"]["resolution"] in (32, 64), name


def test_earlier_quickstarts_time_what_they_timed(bench, monkeypatch):
    # Rows measured on an earlier quickstart stay comparable only while its config keeps that era's
    # flags on top of today's flagfile.
    monkeypatch.chdir(ROOT)
    session17 = _config(bench.CONFIGS["quickstart_32_session17"])
    assert session17["generator"]["rank"] == 10 and not session17.get("jitter", False)
    assert session17["generator"].get("antialias", 1) == 1
    assert session17["optim"].get("lr_rampdown_kimg", 0) == 0  # recorded only when set
    two_blocks = _config(bench.CONFIGS["quickstart_32_two_blocks"])
    assert len(two_blocks["generator"]["blocks"]) == 2 and two_blocks["generator"]["upsampling"] == "bilinear"
