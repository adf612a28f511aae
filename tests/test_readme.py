"""The README's Python example runs as written."""
import pathlib
import re

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
