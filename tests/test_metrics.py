"""Metric contracts: FID/KID/PR against closed forms and direct references, the feature extractor
on a saved random stand-in (the real file-loading path, no download), the registry's JSONL,
TensorBoard and real-statistics cache on a tiny generator, and the CLI on a tiny run dir."""
import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from scipy import linalg

from inr_gan_tf.cli import metrics as cli
from inr_gan_tf.metrics import features as F
from inr_gan_tf.metrics import fid as S
from inr_gan_tf.metrics import reals, registry
from inr_gan_tf.seeds import to_uint8
from helpers import write_run_dir

N_SMALL = 8  # images per side in registry tests: enough for PR's k=3 and KID's subsets


# ---- Frechet distance -------------------------------------------------------------------------

def test_frechet_distance_matches_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    s1, s2 = rng.uniform(0.1, 3, 6), rng.uniform(0.1, 3, 6)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert S.frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(expected, rel=1e-10)
    assert S.frechet_distance(mu1, np.diag(s1), mu1, np.diag(s1)) == pytest.approx(0, abs=1e-10)


def test_frechet_distance_matches_symmetric_sqrtm_form():
    """Tr (S1 S2)^1/2 = Tr (S1^1/2 S2 S1^1/2)^1/2, computed independently."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 5)), rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5))
    mu1, s1 = S.feature_moments(a)
    mu2, s2 = S.feature_moments(b)
    r1 = linalg.sqrtm(s1).real
    ref = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2) - 2 * np.trace(linalg.sqrtm(r1 @ s2 @ r1).real)
    assert S.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-8)
    assert S.fid_from_features(a, mu2, s2) == pytest.approx(ref, rel=1e-8)


def test_frechet_distance_with_singular_covariances_is_finite():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(5, 16)), rng.normal(size=(5, 16)) + 3  # rank 4 < 16
    mu1, s1 = S.feature_moments(a)
    mu2, s2 = S.feature_moments(b)
    d = S.frechet_distance(mu1, s1, mu2, s2)
    assert np.isfinite(d) and d > 16 * 9 * 0.5  # the mean shift dominates
    assert abs(S.frechet_distance(mu1, s1, mu1, s1)) < 1e-3


def test_frechet_distance_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shapes disagree"):
        S.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="at least 2"):
        S.feature_moments(np.zeros((1, 3)))


# ---- KID --------------------------------------------------------------------------------------

def _mmd2_unbiased_loops(x, y):
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, term by term."""
    m, d = len(x), x.shape[1]
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_matches_direct_reference():
    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(12, 5)), rng.normal(size=(12, 5)) * 1.5 + 0.5
    # One subset of all points is a permutation, and the estimator is permutation invariant.
    got = S.kid(real, fake, num_subsets=1, max_subset_size=12)
    assert got == pytest.approx(_mmd2_unbiased_loops(fake, real), rel=1e-10)
    # Many subsets average the per-subset estimates; deterministic given the seed.
    assert S.kid(real, fake, num_subsets=5, max_subset_size=6, seed=1) == \
        S.kid(real, fake, num_subsets=5, max_subset_size=6, seed=1)


def test_kid_is_near_zero_for_the_same_distribution():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    shifted = S.kid(a, b + 0.5, num_subsets=10, max_subset_size=200)
    same = S.kid(a, b, num_subsets=10, max_subset_size=200)
    assert shifted > 0 and abs(same) < 0.05 * shifted
    with pytest.raises(ValueError, match="at least 2"):
        S.kid(a[:1], b)


# ---- precision & recall -----------------------------------------------------------------------

def test_knn_radii_match_brute_force():
    x = np.random.default_rng(5).normal(size=(30, 4))
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    expected = np.sort(d, axis=1)[:, 3]  # index 0 is the point itself
    np.testing.assert_allclose(S.knn_radii(x, 3, budget=64), expected, rtol=1e-9, atol=1e-12)


def test_precision_recall_on_constructed_sets():
    rng = np.random.default_rng(6)
    a = rng.normal(size=(50, 8))
    b = rng.normal(size=(50, 8)) + 100  # a cluster far from a
    assert S.precision_recall(a, a) == {"precision": 1.0, "recall": 1.0}
    assert S.precision_recall(a, b) == {"precision": 0.0, "recall": 0.0}
    # Fakes cover one of the two real clusters: all fakes are real-looking, half the reals are
    # missed. Row batching (a tiny budget) does not change the answer.
    for budget in (1 << 25, 7):
        pr = S.precision_recall(np.concatenate([a, b]), a, budget=budget)
        assert pr == {"precision": 1.0, "recall": 0.5}


# ---- feature extractor ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    return F.save_standin(str(tmp_path_factory.mktemp("inception") / "standin.keras"), dim=64)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(7).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)


def test_extractor_loads_saved_standin_deterministically(standin, images):
    ext = F.FeatureExtractor(standin, batch_size=2)
    feats = ext(images)
    assert feats.shape == (5, 64) and feats.dtype == np.float64 and np.all(np.isfinite(feats))
    assert ext.input_size == F.FID_SIZE
    np.testing.assert_array_equal(feats, ext(images))
    np.testing.assert_allclose(F.FeatureExtractor(standin, batch_size=5)(images), feats, atol=1e-6)
    assert not np.allclose(feats[0], feats[1])
    assert ext.identity == "keras_model:" + F.file_identity(standin)
    with pytest.raises(ValueError, match="uint8"):
        ext(images.astype(np.float32))


def test_extractor_loads_a_saved_model_directory(standin, images, tmp_path):
    sm = F.save_standin(str(tmp_path / "standin_sm"), dim=64)  # same seed: same weights
    ext = F.FeatureExtractor(sm)
    assert ext.kind == "saved_model" and ext.dim == 64
    np.testing.assert_allclose(ext(images), F.FeatureExtractor(standin)(images), atol=1e-5)


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No weights anywhere and a failing download: the fetch is replaced, nothing goes out."""
    monkeypatch.delenv(F.ENV_WEIGHTS, raising=False)
    monkeypatch.setenv(F.ENV_CACHE, str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.keras/models copy either

    def fetch(cache):
        raise OSError("network disabled in tests")
    monkeypatch.setattr(F, "fetch_keras_weights", fetch)
    return tmp_path


def test_missing_weights_error_says_how_to_provide_them(offline):
    with pytest.raises(FileNotFoundError) as e:
        F.load_feature_extractor()
    msg = str(e.value)
    for part in (F.ENV_WEIGHTS, "--inception", F.KERAS_NOTOP, "network disabled"):
        assert part in msg
    with pytest.raises(FileNotFoundError, match="--inception"):
        F.resolve_weights(str(offline / "nope.h5"))


def test_weights_precedence_env_then_cache(offline, monkeypatch, standin):
    cached = offline / "cache" / "inception" / F.KERAS_NOTOP
    os.makedirs(cached.parent)
    cached.write_bytes(b"")
    assert F.resolve_weights() == str(cached)  # found without a download
    monkeypatch.setenv(F.ENV_WEIGHTS, standin)
    assert F.resolve_weights() == standin
    monkeypatch.setenv(F.ENV_WEIGHTS, str(offline / "missing"))
    with pytest.raises(FileNotFoundError, match=F.ENV_WEIGHTS):
        F.resolve_weights()
    assert F.resolve_weights(standin) == standin  # the flag beats the env var


@pytest.mark.slow
def test_keras_inception_v3_weights_file_loads(tmp_path, images):
    """Keras' notop .h5 path, with random weights written in the same legacy HDF5 layout."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format
    model = keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None)
    path = str(tmp_path / F.KERAS_NOTOP)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    ext = F.FeatureExtractor(path, batch_size=5)
    assert ext.kind == "keras_inception_v3" and ext(images).shape == (5, 2048)


# ---- registry ---------------------------------------------------------------------------------


@pytest.fixture
def counted(monkeypatch):
    """Counts the passes over the real images (cache misses), by what they computed."""
    calls = []
    real_stream = reals.real_stream

    def count(opts, resolution, what):
        calls.append(what.split()[0])
        return real_stream(opts, resolution, what)
    monkeypatch.setattr(reals, "real_stream", count)
    return calls


def _lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def test_swd_writes_jsonl_and_scalars_and_caches_reals(G, tmp_path, counted):
    kw = dict(run_dir=str(tmp_path), num=N_SMALL, cache=str(tmp_path / "cache"), step=3)
    writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
    first = registry.calc_metric("swd", G, "procedural", writer=writer, **kw)
    second = registry.calc_metric("swd", G, "procedural", **kw)
    assert counted == ["SWD"]  # the second call read the cache
    assert first["results"] == second["results"] and set(first["results"]) == {"mean", "16"}
    lines = _lines(tmp_path / "metric-swd.jsonl")
    assert len(lines) == 2 and lines[0]["results"] == first["results"]
    assert lines[0]["num_images"] == N_SMALL and lines[0]["num_real"] == N_SMALL
    assert lines[0]["step"] == 3 and lines[0]["resolution"] == 16 and lines[0]["features"] is None
    assert lines[0]["superres"] is None  # swd has no factor
    assert lines[0]["seconds"] > 0 and lines[0]["peak_rss_mb"] > 100  # TF alone is more
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(glob.glob(str(tmp_path / "tb" / "*"))[0])
            for v in e.summary.value}
    assert tags == {"metrics/swd/mean", "metrics/swd/16"}


def test_feature_metrics_use_cached_real_statistics(G, tmp_path, counted, standin):
    kw = dict(run_dir=str(tmp_path), num=N_SMALL, cache=str(tmp_path / "cache"), feature_path=standin)
    for name, keys in [("fid50k", {"fid"}), ("kid50k", {"kid_x1e3"}), ("pr50k3", {"precision", "recall"})]:
        first = registry.calc_metric(name, G, "procedural", **kw)
        assert set(first["results"]) == keys and all(np.isfinite(list(first["results"].values())))
        assert first["features"] == "keras_model:" + F.file_identity(standin)
        assert registry.calc_metric(name, G, "procedural", **kw)["results"] == first["results"]
        assert len(_lines(tmp_path / f"metric-{name}.jsonl")) == 2
    # Moments (FID) first, then features (KID, PR share them): two passes over the reals.
    assert counted == ["moments", "features"]
    assert first["results"]["precision"] <= 1 and first["results"]["recall"] <= 1


def test_upsampled_batches_render_at_2r_and_resize_the_r_render(G):
    from inr_gan_tf.metrics.patches import upsampled_batches
    (batch,) = list(upsampled_batches(G, range(3), batch_size=4))
    assert set(batch) == {"inr", "nearest", "bilinear", "bicubic"}
    assert all(v.shape == (3, 32, 32, 3) and v.dtype == np.uint8 for v in batch.values())
    from inr_gan_tf.sampling import seed_latents
    low = G.render_grid(G.params(tf.constant(seed_latents(range(3), G.z_dim))), 16, 16).numpy()
    np.testing.assert_array_equal(batch["nearest"], to_uint8(low.repeat(2, 1).repeat(2, 2)))
    assert np.abs(batch["inr"].astype(int) - batch["nearest"]).mean() > 0


def test_upsampled_metrics_return_the_four_variants(G, tmp_path, standin):
    kw = dict(num=N_SMALL, cache=str(tmp_path / "cache"), feature_path=standin)
    swd = registry.calc_metric("upsampled_swd", G, "procedural", **kw)
    fid = registry.calc_metric("upsampled_fid", G, "procedural", **kw)
    for record in (swd, fid):
        assert record["resolution"] == 32 and record["superres"] == 2  # the default factor
        assert {"inr", "nearest", "bilinear", "bicubic"} <= set(record["results"])
        assert all(np.isfinite(v) for v in record["results"].values())
    assert set(fid["results"]) == {"inr", "nearest", "bilinear", "bicubic"}
    assert {"inr_32", "inr_16", "bicubic_32"} <= set(swd["results"])


def test_unknown_metric_lists_the_available_ones(G):
    with pytest.raises(ValueError, match="available: .*upsampled_swd"):
        registry.calc_metric("fid_typo", G, "procedural")
    assert {"swd", "fid50k", "kid50k", "pr50k3", "upsampled_swd", "upsampled_fid", "spectral",
            "upsampled_spectral", "patch_swd"} <= set(registry.list_metrics())


# ---- CLI --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(G, tmp_path_factory):
    """A training run as the trainer leaves it: config.json + checkpoints/ with G_ema and step."""
    return write_run_dir(tmp_path_factory.mktemp("runs") / "tiny", G, 5, config_extra={"data": "procedural"})


def test_cli_scores_a_run(run_dir, tmp_path, capsys):
    assert cli.main([f"--run_dir={run_dir}", "--metrics=swd,upsampled_swd", f"--num={N_SMALL}",
                     f"--cache_dir={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "step 5" in out and "upsampled_swd" in out and "bicubic" in out
    for name in ("swd", "upsampled_swd"):
        (line,) = _lines(run_dir / f"metric-{name}.jsonl")
        assert line["step"] == 5 and line["snapshot"] == os.path.join("checkpoints", "ckpt-5") and line["data"] == "procedural"
    assert glob.glob(str(run_dir / "logs" / "metrics" / "events.out.tfevents.*"))


def test_cli_rejects_unknown_metrics_and_lists(run_dir, capsys):
    with pytest.raises(cli.UsageError, match="--metrics: .*available: .*swd"):
        cli.main([f"--run_dir={run_dir}", "--metrics=swd,nope"])
    assert cli.run([f"--run_dir={run_dir}", "--metrics=swd,nope"]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith("metrics: --metrics: unknown metric(s) ['nope']")
    assert cli.main(["--list"]) == 0
    assert "upsampled_fid" in capsys.readouterr().out


def test_cli_old_no_tensorboard_still_works(capsys):
    args = cli.parse_args(["--list", "--no_tensorboard"])
    assert args.tensorboard is False
    assert "--no_tensorboard is deprecated, use --notensorboard" in capsys.readouterr().err
    assert cli.parse_args(["--list"]).tensorboard is True


# ---- the fakes' latent seeds ------------------------------------------------------------------


def test_seeds_choose_the_fakes_and_are_recorded(G, tmp_path):
    kw = dict(num=N_SMALL, cache=str(tmp_path / "cache"))
    default = registry.calc_metric("swd", G, "procedural", **kw)
    same = registry.calc_metric("swd", G, "procedural", seeds=range(N_SMALL), cache=kw["cache"])
    other = registry.calc_metric("swd", G, "procedural", seeds=range(N_SMALL, 2 * N_SMALL), cache=kw["cache"])
    assert default["results"] == same["results"] and default["seeds"] == same["seeds"] == f"0-{N_SMALL - 1}"
    assert other["results"] != default["results"] and other["seeds"] == f"{N_SMALL}-{2 * N_SMALL - 1}"
    assert other["num_images"] == N_SMALL  # num follows the seeds


def assert_same_8bit(a, b):
    """The same images up to one 8-bit level: a batch of another make-up may round a float one
    ulp apart on some CPUs (seen on AMD EPYC hosts), which flips a pixel on a level's edge; another
    seed or window differs by far more."""
    np.testing.assert_allclose(np.asarray(a, np.int16), np.asarray(b, np.int16), atol=1, rtol=0)


def test_image_k_of_the_fakes_is_seed_k_whatever_the_set():
    from inr_gan_tf.metrics.patches import ModelViews
    from inr_gan_tf.model import build_generator, presets
    G = build_generator(presets.tiny_generator(16), seed=0)
    (first,) = ModelViews(G, 5, batch_size=5).batches()
    (picked,) = ModelViews(G, 2, batch_size=5, seeds=[3, 1]).batches()
    assert_same_8bit(picked["inr"], first["inr"][[3, 1]])


def test_the_kth_fake_takes_real_ks_window_whatever_its_seed():
    """patch_swd's common random numbers: windows follow the position in the set, not the seed."""
    from inr_gan_tf.metrics.patches import ModelViews, crop, patch_windows
    from inr_gan_tf.model import build_generator, presets
    G = build_generator(presets.tiny_generator(16), seed=0)
    (whole,) = ModelViews(G, 5, batch_size=5).batches(factor=2)
    (picked,) = ModelViews(G, 2, batch_size=5, seeds=[3, 1]).batches(factor=2, patch_seed=0)
    windows = patch_windows(range(2), 2 * G.resolution, G.resolution, 0)
    assert_same_8bit(picked["nearest"], crop(whole["nearest"][[3, 1]], windows, G.resolution))


@pytest.mark.parametrize("seeds, num, match", [
    ([1, 2, 1], None, "repeat"), ([0, 1], 3, "num=3 but 2 seeds"), ([], None, "empty"),
    ([0.5, 1], None, "whole numbers"), ([2 ** 32, 0], None, "in 0..4294967295")])
def test_bad_seeds_are_one_line_errors(G, seeds, num, match):
    with pytest.raises(ValueError, match=match) as e:
        registry.calc_metric("swd", G, "procedural", seeds=seeds, num=num)
    assert "\n" not in str(e.value)


def test_latent_space_metrics_refuse_seeds(G):
    with pytest.raises(ValueError, match="kpl draws its own latents"):
        registry.calc_metric("kpl", G, "procedural", seeds=[0, 1])


def test_cli_seeds_errors_name_the_flag_before_writing(run_dir):
    before = sorted(p.name for p in run_dir.rglob("*"))
    for argv, match in [(["--seeds=0-3,2"], "--seeds: seeds repeat"), (["--seeds=0-3", "--num=5"], "--seeds: num=5 but 4"),
                        (["--seeds=0-99999999999"], "--seeds: .*above 4294967295"), (["--seeds=x"], "--seeds: bad seed list"),
                        (["--seeds=0"], "--seeds: swd needs num >= 2"),
                        (["--seeds=0-9", "--metrics=swd,kpl"], "--seeds: kpl draws its own latents"),
                        (["--num=1"], "--num: swd needs num >= 2"),
                        (["--data=procedural:6", "--seeds=0-7"], "fewer than the 8 asked for: name 6 seeds")]:
        with pytest.raises(cli.UsageError, match=match):
            cli.main([f"--run_dir={run_dir}", "--metrics=swd", *argv])
    assert sorted(p.name for p in run_dir.rglob("*")) == before  # no record, no event file
    with pytest.raises(cli.UsageError, match="--real_vs_real has no model"):
        cli.main(["--real_vs_real", "--data=procedural", "--resolution=16", "--seeds=0-7"])


def test_seed_lists_round_trip_and_stay_bounded():
    from inr_gan_tf.seeds import MAX_SEED, MAX_SEEDS, format_seeds, parse_seeds
    assert parse_seeds("0-3,7,9-10") == [0, 1, 2, 3, 7, 9, 10] and parse_seeds(str(MAX_SEED)) == [MAX_SEED]
    assert format_seeds(parse_seeds("0-3,7,9-10")) == "0-3,7,9-10" and format_seeds([5, 4]) == "5,4"
    with pytest.raises(ValueError, match=f"more than {MAX_SEEDS}"):  # refused before 2^32 seeds are listed
        parse_seeds(f"0-{MAX_SEED}")
    with pytest.raises(ValueError, match="bad seed list"):  # ASCII digits only
        parse_seeds("\u0663-\u0665")


# ---- several draws of one model -----------------------------------------------------------------


def test_draws_are_disjoint_seed_blocks_summarised_with_a_standard_error(G, tmp_path):
    cache = str(tmp_path / "cache")
    blocks = [registry.calc_metric("swd", G, "procedural", seeds=range(k * N_SMALL, (k + 1) * N_SMALL), cache=cache)
              for k in range(3)]
    writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
    rec = registry.calc_metric("swd", G, "procedural", num=N_SMALL, draws=3, cache=cache, run_dir=str(tmp_path),
                               writer=writer)
    assert rec["draw_results"] == [b["results"] for b in blocks] and rec["draws"] == 3
    for key, value in rec["results"].items():
        values = [b["results"][key] for b in blocks]
        assert value == pytest.approx(np.mean(values), rel=1e-12)
        assert rec["results_se"][key] == pytest.approx(np.std(values, ddof=1) / np.sqrt(3), rel=1e-12)
    assert rec["seeds"] == f"0-{3 * N_SMALL - 1}" and rec["num_images"] == N_SMALL
    # The same draws from explicit seeds, split in order; one line in the run's JSONL.
    again = registry.calc_metric("swd", G, "procedural", seeds=range(3 * N_SMALL), draws=3, cache=cache)
    assert again["draw_results"] == rec["draw_results"]
    (line,) = open(tmp_path / "metric-swd.jsonl").read().splitlines()
    assert json.loads(line)["results_se"] == rec["results_se"]
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(glob.glob(str(tmp_path / "tb" / "*"))[0])
            for v in e.summary.value}  # the mean and, beside it, its error
    assert tags == {"metrics/swd/mean", "metrics/swd/16", "metrics/swd/mean_draws_se", "metrics/swd/16_draws_se"}


@pytest.mark.parametrize("kw, match", [
    (dict(num=4, draws=0), "draws must be >= 1"), (dict(seeds=range(9), draws=2), "9 seeds do not split into 2"),
    (dict(draws=2), "draws need num"), (dict(num=3, seeds=range(8), draws=2), "num=3 but 8 seeds make 2 draws of 4"),
    (dict(num=1, draws=4), "swd needs num >= 2"), (dict(num=4, draws=2.5), "whole number"),
    (dict(num=860, draws=10 ** 9), "more than 10000000")])
def test_bad_draws_are_one_line_errors_before_any_work(G, kw, match):
    with pytest.raises(ValueError, match=match) as e:
        registry.calc_metric("swd", G, "procedural", **kw)
    assert "\n" not in str(e.value)


def _draw(seeds, **results):
    return {"results": results, "seeds": seeds, "seconds": 1.0, "peak_rss_mb": 10.0, "timestamp": seeds}


def test_summary_of_draws_combines_a_metrics_own_errors_and_survives_non_finite_draws():
    rec = registry.summarize_draws([_draw("0-3", gap=1.0, gap_se=0.3, dist=2.0), _draw("4-7", gap=3.0, gap_se=0.4, dist=2.0)])
    assert rec["results"] == {"gap": 2.0, "gap_se": pytest.approx(0.25), "dist": 2.0}  # sqrt(.09 + .16) / 2
    assert rec["results_se"] == {"gap": pytest.approx(1.0), "dist": 0.0}  # sd sqrt(2) / sqrt(2); none for gap_se
    assert rec["seeds"] == "0-7" and rec["seconds"] == 2.0 and rec["timestamp"] == "4-7"
    odd = registry.summarize_draws([_draw("0-3", gap=float("inf")), _draw("4-7", gap=1.0)])
    assert odd["results"]["gap"] == float("inf") and np.isnan(odd["results_se"]["gap"])
    with pytest.raises(ValueError, match="at least 2 draws"):
        registry.summarize_draws([_draw("0-3", gap=1.0)])


def test_cli_draws_write_one_record_and_refuse_bad_splits_before_writing(run_dir, capsys):
    before = sorted(p.name for p in run_dir.rglob("*"))
    for argv, match in [(["--draws=2"], "--draws needs --num"), (["--draws=3", "--seeds=0-7"], "--draws: 8 seeds do not"),
                        (["--draws=0", "--num=4"], "--draws must be >= 1"),
                        (["--draws=2", "--seeds=0-3,2"], "--seeds: seeds repeat"), (["--draws=4", "--num=1"], "--num: swd needs"),
                        (["--draws=2", "--num=4", "--metrics=kpl"], "--draws: kpl draws its own latents")]:
        with pytest.raises(cli.UsageError, match=match):
            cli.main([f"--run_dir={run_dir}", "--metrics=swd", *argv])
    with pytest.raises(cli.UsageError, match="--real_vs_real has no model"):
        cli.main(["--real_vs_real", "--data=procedural", "--resolution=16", "--draws=2", "--num=4"])
    assert sorted(p.name for p in run_dir.rglob("*")) == before  # no record, no event file
    jsonl = run_dir / "metric-swd.jsonl"  # the run folder is shared with other tests
    lines = jsonl.read_text().splitlines() if jsonl.exists() else []
    assert cli.main([f"--run_dir={run_dir}", "--metrics=swd", "--draws=2", "--seeds=0-7", "--notensorboard"]) == 0
    assert "±" in capsys.readouterr().out
    (line,) = jsonl.read_text().splitlines()[len(lines):]
    record = json.loads(line)
    assert record["draws"] == 2 and record["seeds"] == "0-7" and record["num_images"] == 4
