"""Paper figures: Fig. 17 (Fourier frequency norms) and Fig. 9 (MACs / time vs resolution)."""
import json
import math

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.profiler import model_analyzer, option_builder

from inr_gan_tf.cli import figures as cli
from inr_gan_tf.figures import conv_baseline, freq_norms, lowres
from inr_gan_tf.figures.common import preset_config
from inr_gan_tf.model import build_generator, presets



# -- Fig. 17 --------------------------------------------------------------------------------------
def test_frequency_norms_one_entry_per_block(G):
    entries = freq_norms.frequency_norms(G, num=5, seed=3, batch=2)
    assert [e["block"] for e in entries] == list(range(len(G.inr.blocks)))
    for e, block in zip(entries, G.inr.blocks):
        assert e["norms"].shape == (5, block["frequencies"])
        assert np.all(np.isfinite(e["norms"])) and np.all(e["norms"] >= 0)
    # The norm is of the matrix the layer applies: its init scale times the raw prediction.
    from inr_gan_tf.seeds import seed_latents
    feat = G.inr.features[1]
    raw = G.params(seed_latents([3], G.z_dim))[f"{feat.name}.matrix"].numpy()[0]
    np.testing.assert_allclose(entries[1]["norms"][0], feat.scale * np.linalg.norm(raw, axis=-1), rtol=1e-5)


def test_frequency_norms_are_of_the_capped_matrix():
    # A tiny cap: every plotted norm must sit below it, as the layer applies it.
    cap = 0.05
    G = build_generator(presets.tiny_generator(16, fourier_cap=cap), seed=0)
    for e in freq_norms.frequency_norms(G, num=3, seed=1, batch=3):
        assert np.all(e["norms"] <= cap * math.pi * e["resolution"] + 1e-6)


def test_frequency_norms_need_fourier_features():
    G = build_generator(presets.tiny_generator(16, fourier=False), seed=0)
    with pytest.raises(ValueError, match="no Fourier features"):
        freq_norms.frequency_norms(G, num=2)


def test_freq_norms_run_writes_json_and_png(G, tmp_path):
    pytest.importorskip("matplotlib")
    data = freq_norms.run(G, str(tmp_path), num=4, source={"preset": "tiny16"})
    saved = json.loads((tmp_path / "freq_norms.json").read_text())
    assert saved == json.loads(json.dumps(data))
    assert len(saved["blocks"]) == len(G.inr.blocks)
    for b in saved["blocks"]:
        assert 0 <= b["min"] <= b["median"] <= b["max"] and b["mean"] > 0
        assert b["nyquist"] == pytest.approx(math.pi * b["resolution"])
    assert (tmp_path / "freq_norms.png").stat().st_size > 1000


# -- Fig. 9: conv baseline ------------------------------------------------------------------------
@pytest.mark.parametrize("res, paper_gmacs", [(256, 84.36), (1024, 143.18)])
def test_stylegan2_macs_match_the_paper(res, paper_gmacs):
    """Table 1's StyleGAN2 row; the <1% gap is what the count leaves out (FIR filters, noise)."""
    total = conv_baseline.macs(conv_baseline.stylegan2_config(res))["total"] / 1e9
    assert total == pytest.approx(paper_gmacs, rel=0.015)


def test_conv_mac_count_matches_tensorflow_profiler():
    cfg = {"resolution": 16, "channel_base": 256, "channel_max": 32, "z_dim": 8, "w_dim": 8, "mapping_layers": 2}
    D = conv_baseline.ConvDecoder(**cfg)
    graph = tf.function(lambda z: D(z)).get_concrete_function(tf.TensorSpec([1, 8])).graph
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    prof = model_analyzer.profile(graph, options=opts)
    ops = {op.name: op.type for op in graph.get_operations()}
    flops = sum(c.total_float_ops for c in prof.children if ops.get(c.name) in ("MatMul", "Conv2D"))
    assert flops == 2 * conv_baseline.macs(cfg)["total"]


def test_conv_decoder_renders_full_size_then_downsamples():
    D = conv_baseline.ConvDecoder(**conv_baseline.matched_config(presets.tiny_generator(16)))
    z = tf.random.normal([2, D.z_dim])
    assert D(z).shape == (2, 16, 16, 3)
    assert D.render(z, 8).shape == (2, 8, 8, 3)
    np.testing.assert_allclose(D.render(z, 8).numpy(), D(z).numpy()[:, 1::2, 1::2], atol=1e-6)  # nearest pixel
    assert conv_baseline.ConvDecoder.from_config(D.get_config()).get_config() == D.get_config()
    with pytest.raises(ValueError, match="power-of-two"):
        conv_baseline.conv_layout(dict(D.config, resolution=24))


def test_matched_config_of_paper_generator_is_stylegan2():
    assert conv_baseline.matched_config(presets.paper_generator(256)) == conv_baseline.stylegan2_config(256)


# -- Fig. 9: series, run, CLI ---------------------------------------------------------------------
def test_macs_fall_with_resolution_for_the_inr_only():
    cfg = presets.paper_generator(256)
    m = lowres.macs_series(cfg, conv_baseline.matched_config(cfg), [256, 32, 128, 64])
    assert m["resolutions"] == [32, 64, 128, 256]
    assert all(a < b for a, b in zip(m["inr_macs"], m["inr_macs"][1:]))  # monotone
    assert m["inr_macs"][0] * 20 < m["inr_macs"][-1]
    assert len(set(m["conv_macs"])) == 1  # full-size work at every output size


def test_time_series_tiny(G):
    conv = conv_baseline.ConvDecoder(**conv_baseline.matched_config(G.get_config()))
    t = lowres.time_series(G, conv, [8, 16], batch=2, reps=1)
    for key in ("inr_ms_per_image", "conv_ms_per_image", "inr_ms_per_image_min", "conv_ms_per_image_min"):
        assert len(t[key]) == 2 and all(v > 0 for v in t[key])
    with pytest.raises(ValueError, match="reps"):
        lowres.time_series(G, conv, [8], batch=1, reps=0)


def test_lowres_run_writes_json_and_png(tmp_path):
    pytest.importorskip("matplotlib")
    tiny = presets.tiny_generator(16)
    data = lowres.run(str(tmp_path), {"paper256": presets.paper_generator(256)}, {"tiny16": tiny},
                      resolutions=[4, 8], batch=2, reps=1)
    saved = json.loads((tmp_path / "lowres.json").read_text())
    assert saved == json.loads(json.dumps(data))
    by = {s["name"]: s for s in saved["series"]}
    assert by["paper256"]["macs"]["resolutions"] == [4, 8, 256]  # the training size is always shown
    assert "time" not in by["paper256"] and by["tiny16"]["time"]["resolutions"] == [4, 8, 16]
    assert by["paper256"]["conv_name"] == "StyleGAN2-f"
    for key in ("figure", "threads", "load_average_1min", "conv_baseline"):
        assert key in saved
    assert (tmp_path / "lowres.png").stat().st_size > 1000


def test_cli_json_only(tmp_path):
    out = str(tmp_path)
    assert cli.main(["--figure=lowres", "--macs_presets", "tiny16", "--time_presets", "", "--resolutions", "8,16",
                     "--outdir", out, "--noplot"]) == 0
    assert json.loads((tmp_path / "lowres.json").read_text())["series"][0]["name"] == "tiny16"
    assert cli.main(["--figure=freq-norms", "--preset", "tiny16", "--num", "3", "--outdir", out, "--noplot"]) == 0
    assert len(json.loads((tmp_path / "freq_norms.json").read_text())["blocks"]) == 3
    assert not (tmp_path / "freq_norms.png").exists()


def test_cli_old_spellings_still_work(tmp_path, capsys):
    # The figure as a subcommand, --out, --seed, --batch, --reps, --no_plot: each rewritten with a warning.
    assert cli.main(["lowres", "--macs_presets=tiny16", "--time_presets=tiny16", "--resolutions=8",
                     f"--out={tmp_path}", "--seed=1", "--batch=1", "--reps=1", "--no_plot"]) == 0
    saved = json.loads((tmp_path / "lowres.json").read_text())
    assert saved["series"][0]["time"]["batch"] == 1 and saved["series"][0]["time"]["reps"] == 1
    assert not (tmp_path / "lowres.png").exists()
    err = capsys.readouterr().err
    assert "figure name as an argument is deprecated, use --figure=lowres" in err
    for old, new in (("out", "outdir"), ("seed", "first_seed"), ("batch", "batch_size"), ("reps", "repeats"),
                     ("no_plot", "noplot")):
        assert f"--{old} is deprecated, use --{new}" in err


@pytest.mark.parametrize("argv, message", [
    ([], "--figure is required"),
    (["--figure=pie"], "--figure"),
    (["--figure=freq-norms"], "--run_dir or --preset"),
    (["--figure=freq-norms", "--preset=huge256"], "--preset: unknown preset"),
    (["--figure=freq-norms", "--preset=tiny16", "--repeats=3"], "--repeats is a flag of --figure=lowres"),
    (["--figure=lowres", "--preset=tiny16"], "--preset is a flag of --figure=freq-norms"),
    (["--figure=lowres", "--time_presets=big16"], "--time_presets: unknown preset"),
    (["--figure=lowres", "--resolutions=0,8"], "--resolutions"),
    (["--figure=lowres", "--batch_size=0"], "--batch_size"),
])
def test_cli_bad_flags_exit_2_with_one_line(argv, message, tmp_path, capsys):
    assert cli.main([*argv, f"--outdir={tmp_path / 'o'}", "--noplot"]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("figures: ") and message in err
    assert not (tmp_path / "o").exists()


def test_cli_without_matplotlib_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)  # import now fails
    assert cli.main(["--figure=freq-norms", "--preset", "tiny16", "--outdir", str(tmp_path)]) == 2
    assert "pip install" in capsys.readouterr().err


def test_cli_freq_norms_of_a_run_without_fourier_features_is_one_line(tmp_path, capsys):
    from helpers import write_run_dir
    run = write_run_dir(str(tmp_path / "run"), build_generator(presets.tiny_generator(16, fourier=False), seed=0), 1)
    assert cli.main(["--figure=freq-norms", "--run_dir", run, "--outdir", str(tmp_path / "f"), "--noplot"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("figures:") and "no Fourier features" in err and "Traceback" not in err


def test_bad_presets_are_clear_errors():
    with pytest.raises(ValueError, match="unknown preset"):
        preset_config("huge256")
    with pytest.raises(ValueError, match="resolutions"):
        lowres.check_resolutions([0, 8])
