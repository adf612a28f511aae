"""train refuses a step too large to index and data with no readable image before writing."""
import pytest

from inr_gan_tf import cli
from inr_gan_tf.cli import train
from inr_gan_tf.data import resolve_source

TINY = ["--preset=tiny16", "--resolution=16", "--total_kimg=0.01"]


def test_train_refuses_before_writing(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.png").write_bytes(b"not a png")
    for extra, words in ((["--batch_size=100000000"], "2^31"),
                         ([f"--data={empty}", "--batch_size=4"], "no readable images"),
                         ([f"--data={tmp_path / 'junk'}", "--batch_size=4"], "no readable images")):
        run = tmp_path / "run"
        assert cli.run(train.COMMAND, [*TINY, f"--run_dir={run}", *extra]) == 2
        assert words in capsys.readouterr().err
        assert not run.exists()


@pytest.mark.parametrize("spec", ["procedural:", "procedural:0", "procedural:x"])
def test_bad_procedural_counts(spec):
    with pytest.raises(ValueError, match="N >= 1"):
        resolve_source(spec)
