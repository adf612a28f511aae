"""The README runs as written: its Python examples, and (slow) its smoke run."""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_render_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no Python example"
    scope = {}
    exec(compile(blocks[0], "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert scope["superres"].shape == (1, 256, 256, 3)
    assert scope["zoomed_out"].shape == (1, 64, 64, 3)
    assert scope["points"].shape == (1, 1000, 3)
    assert scope["big"].shape[1:] == (1024, 1024, 3)


def test_readme_trained_run_example_runs(tmp_path, monkeypatch):
    """The second example, on a tiny run made here: restore, sample, score, export."""
    from helpers import write_run_dir

    from inr_gan_tf.model import build_generator, presets
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    code = blocks[1]
    assert 'restore_generator(run_dir="runs/quickstart")' in code
    monkeypatch.chdir(tmp_path)
    write_run_dir("runs/quickstart", build_generator(presets.tiny_generator(16), seed=0), step=5)
    # Cheaper than the README's: procedural data, fewer images (the calls are the README's own).
    code = code.replace('"noto_emoji", num=512', '"procedural", num=64')
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
    assert scope["images"].shape == (8, 128, 128, 3)
    assert scope["record"]["results"]["mean"] > 0
    assert (tmp_path / "saved_models" / "quickstart" / "1" / "saved_model.pb").exists()


@pytest.mark.slow  # ~100 s: the README's smoke run, 250 training steps then a 4x grid
def test_readme_smoke_run_as_written(tmp_path):
    """The two commands of "A two-minute smoke run", verbatim, in a folder with the configs."""
    import shlex
    import shutil
    import subprocess
    import sys
    text = README.read_text()
    section = text[text.index("## A two-minute smoke run"):text.index("## One line each")]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    shutil.copytree(README.parent / "configs", tmp_path / "configs")
    for line in block.strip().splitlines():
        argv = shlex.split(line)
        assert argv[0] == "python"
        subprocess.run([sys.executable, *argv[1:]], cwd=tmp_path, check=True, capture_output=True, timeout=900)
    from PIL import Image
    assert Image.open(tmp_path / "runs" / "smoke" / "out" / "grid.png").size == (4 * 128, 4 * 128)
