"""Streaming metrics (issue 14): the streamed state of FID/KID/PR/SWD against in-memory
references on the same sets, the standard FID graph loaded from a test-made GraphDef, the
real-statistics cache (statistics only, never images; stale or truncated files rebuilt), and
the errors for too few reals and non-finite features."""
import glob
import importlib
import os

import numpy as np
import pytest
import tensorflow as tf

from inr_gan_tf.metrics import cache as cache_lib
from inr_gan_tf.metrics import features as F
from inr_gan_tf.metrics import fid as S
from inr_gan_tf.metrics import registry, stream
from inr_gan_tf.sampling import generate_images

W = importlib.import_module("inr_gan_tf.metrics.swd")  # the package's `swd` is the function
tf1 = tf.compat.v1


def _batches(x, sizes):
    """x split into consecutive batches of the given sizes (uneven on purpose)."""
    out, i = [], 0
    for n in sizes:
        out.append(x[i:i + n])
        i += n
    assert i == len(x)
    return out


# ---- FID / KID / PR state -----------------------------------------------------------------------

def test_streamed_moments_equal_in_memory_ones_even_far_from_the_origin():
    rng = np.random.default_rng(0)
    for offset, block in [(0.0, 1), (1e4, 1), (1e4, 16), (0.0, 1024)]:
        # block 1: a merge per batch; raw sums of x x^T would lose ~8 digits at offset 1e4.
        x = rng.normal(size=(103, 12)) * rng.uniform(0.1, 2, 12) + offset
        stats = S.FeatureStats(block=block)
        for b in _batches(x, [1, 40, 2, 60]):
            stats.add(b)
        mu, sigma = stats.moments()
        mu_ref, sigma_ref = S.feature_moments(x)
        np.testing.assert_allclose(mu, mu_ref, rtol=1e-12)
        np.testing.assert_allclose(sigma, sigma_ref, rtol=1e-6, atol=1e-12 * np.abs(sigma_ref).max())
    with pytest.raises(ValueError, match="at least 2"):
        S.FeatureStats().add(x[:1]).moments()


def test_reservoir_keeps_everything_in_order_then_a_seeded_uniform_sample():
    x = np.random.default_rng(1).normal(size=(50, 4)).astype(np.float32)
    keep = S.FeatureReservoir(64)
    for b in _batches(x, [7, 30, 13]):
        keep.add(b)
    np.testing.assert_array_equal(keep.features, x)
    # Past capacity: exactly `capacity` distinct input rows, deterministic per seed.
    picks = []
    for seed in (0, 0, 1):
        r = S.FeatureReservoir(20, seed=seed)
        for b in _batches(x, [15, 10, 25]):
            r.add(b)
        rows = {tuple(v) for v in r.features}
        assert len(r.features) == 20 == len(rows) and rows <= {tuple(v) for v in x}
        picks.append(r.features)
    np.testing.assert_array_equal(picks[0], picks[1])
    assert not np.array_equal(picks[0], picks[2])
    # Uniform: over many seeds every input is kept about capacity / N of the time.
    idx = np.arange(40, dtype=np.float32)[:, None]
    counts = np.zeros(40)
    for seed in range(400):
        r = S.FeatureReservoir(10, seed=seed).add(idx[:25]).add(idx[25:])
        counts[r.features[:, 0].astype(int)] += 1
    assert np.abs(counts / 400 - 0.25).max() < 0.1


def test_streamed_kid_pr_fid_equal_in_memory_on_the_same_features():
    rng = np.random.default_rng(2)
    # float32 values, as extractors compute them (the reservoir stores float32).
    real = rng.normal(size=(60, 8)).astype(np.float32).astype(np.float64)
    fake = (rng.normal(size=(45, 8)) + 0.3).astype(np.float32).astype(np.float64)
    extract = lambda images: images.reshape(len(images), -1).astype(np.float64)  # noqa: E731
    sinks = {}
    for name, x, sizes in (("real", real, [16, 16, 16, 12]), ("fake", fake, [1, 44])):
        batches = [b.reshape(len(b), 2, 4, 1) for b in _batches(x, sizes)]  # "images"
        sinks[name] = stream.drain(batches, lambda key: stream.FeatureSink(
            extract, key, moments=True, keep=1000), total=len(x), label=name)["real"]
    r, f = sinks["real"].reservoir.features, sinks["fake"].reservoir.features
    assert S.kid(r, f, num_subsets=7, max_subset_size=30, seed=3) == \
        S.kid(real, fake, num_subsets=7, max_subset_size=30, seed=3)
    assert S.precision_recall(r, f, k=3) == S.precision_recall(real, fake, k=3)
    streamed = S.frechet_distance(*sinks["fake"].stats.moments(), *sinks["real"].stats.moments())
    assert streamed == pytest.approx(S.fid_from_features(fake, *S.feature_moments(real)), rel=1e-6)


def test_non_finite_features_name_the_batch():
    def extract(images):
        out = images.reshape(len(images), -1).astype(np.float64)
        out[out > 30] = np.nan
        return out
    x = np.arange(12 * 3, dtype=np.float64).reshape(12, 1, 1, 3)  # > 30: images 10 and 11
    sink = stream.FeatureSink(extract, "fakes 'inr'", moments=True)
    with pytest.raises(ValueError, match=r"fakes 'inr': features of batch 2 \(images 8 \.\. 11\): 2 "):
        for b in _batches(x, [4, 4, 4]):
            sink.add(b)


def test_too_few_features_for_kid_and_pr_are_clear():
    x = np.zeros((3, 4))
    with pytest.raises(ValueError, match="more than 3 real feature vectors, got 3"):
        S.precision_recall(x, np.zeros((9, 4)), k=3)
    with pytest.raises(ValueError, match="1 real"):
        S.kid(x[:1], x)


# ---- SWD --------------------------------------------------------------------------------------

def _swd_in_memory(reals, fakes, seed, patches, dirs, repeats):
    """The pre-streaming SWDReference: whole-set pyramids and descriptors, then W1."""
    def descriptors(x):
        x = W.to_float255(x, "x")
        return [W.patch_descriptors(level, patches, W._rng(seed, W._PATCH_STREAM, i))
                for i, level in enumerate(W.laplacian_pyramid(x))]
    real, fake = descriptors(reals), descriptors(fakes)
    levels = {}
    for i, (a, b) in enumerate(zip(real, fake)):
        d = W.random_directions(a.shape[1], dirs * repeats, W._rng(seed, W._DIR_STREAM, i))
        d = d.reshape(a.shape[1], repeats, dirs).transpose(1, 0, 2)
        dists = [W.wasserstein_sorted(W._sorted_projections(a, dr), W._sorted_projections(b, dr))
                 for dr in d]
        levels[W.level_resolutions(reals.shape[1])[i]] = float(np.mean(dists)) * 1e3
    return {"levels": levels, "mean": float(np.mean(list(levels.values())))}


@pytest.mark.parametrize("patches", [2, 16])  # 2: keeps descriptors; 16: keeps uint8 pixels
def test_streamed_swd_equals_the_in_memory_reference(patches):
    rng = np.random.default_rng(4)
    reals = rng.integers(0, 256, (23, 32, 32, 3), dtype=np.uint8)
    fakes = np.clip(reals[:19].astype(int) + rng.integers(-40, 40, (19, 32, 32, 3)), 0, 255).astype(np.uint8)
    settings = dict(seed=5, patches=patches, dirs=16, repeats=2)
    expected = _swd_in_memory(reals, fakes, **settings)
    side = W.DescriptorSet(seed=5, patches_per_image=patches)
    for b in _batches(reals, [5, 1, 17]):
        side.add(b)
    assert side._keep_pixels == (patches == 16)
    ref = W.SWDReference(side, dirs_per_repeat=16, repeats=2)
    fake_side = ref.new_side()
    for b in _batches(fakes, [10, 9]):
        fake_side.add(b)
    assert ref(fake_side) == expected
    # The cache round trip (raw descriptors, not images) gives the same reference.
    state = W.DescriptorSet(seed=5, patches_per_image=patches).add(reals).state()
    assert all(a.dtype != np.uint8 for a in state.values())
    again = W.SWDReference(W.DescriptorSet.from_state(state), dirs_per_repeat=16, repeats=2)
    assert again(fakes) == expected
    with pytest.raises(ValueError, match="complete"):
        W.DescriptorSet.from_state(state).add(reals)


# ---- the standard FID graph, as a test-made stand-in ------------------------------------------

def make_fid_graph(path, dim=8, seed=0, pool=True):
    """A GraphDef with the tensor names of classify_image_graph_def.pb (inception-2015-12-05):
    DecodeJpeg -> Cast -> ExpandDims -> ResizeBilinear to 299 (the 2015 op) -> Sub/Mul to
    [-1, 1) -> a small conv with a BatchNormWithGlobalNormalization node (deprecated since
    GraphDef version 9, so the file claims version 3 as the 2015 graph does) -> pool_3
    [1, 1, 1, dim] -> softmax. Random weights: its numbers mean nothing."""
    rng = np.random.default_rng(seed)
    g = tf.Graph()
    with g.as_default():
        contents = tf1.placeholder(tf.string, [], name="DecodeJpeg/contents")
        x = tf.cast(tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg"), tf.float32, name="Cast")
        x = tf.expand_dims(x, 0, name="ExpandDims")
        x = tf1.image.resize_bilinear(x, tf.constant([299, 299], name="ResizeBilinear/size"),
                                      name="ResizeBilinear")
        x = tf.multiply(tf.subtract(x, 128.0, name="Sub"), 1 / 128.0, name="Mul")
        x = tf.nn.avg_pool2d(x, 23, 23, "VALID", name="mixed/pool")  # [13, 13, 3]
        w = tf.constant(rng.normal(size=(3, 3, 3, dim)).astype(np.float32), name="conv/w")
        x = tf.nn.conv2d(x, w, 1, "VALID", name="conv/Conv2D")  # [11, 11, dim]
        for name in ("mean", "variance", "beta", "gamma"):
            v = rng.uniform(0.5, 1.5, dim) if name in ("variance", "gamma") else rng.normal(size=dim)
            tf.constant(v.astype(np.float32), name=f"conv/{name}")
        x = tf.identity(x, name="conv/batchnorm")  # becomes the deprecated op below
        x = tf.nn.relu(x, name="conv")
        out = tf.nn.avg_pool2d(x, 11, 1, "VALID", name="pool_3" if pool else "pool_x")
        tf.nn.softmax(tf.reshape(out, [1, dim], name="pool_3/_reshape"), name="softmax")
    gd = g.as_graph_def()
    for n in gd.node:
        if n.name == "conv/batchnorm":
            n.op = "BatchNormWithGlobalNormalization"
            n.input[:] = ["conv/Conv2D", "conv/mean", "conv/variance", "conv/beta", "conv/gamma"]
            n.attr["variance_epsilon"].f = 1e-3
            n.attr["scale_after_normalization"].b = True
    gd.versions.producer = 3
    with open(path, "wb") as f:
        f.write(gd.SerializeToString())
    return str(path)


def _ttur_features(path, images):
    """TTUR's fid.py: import with name 'FID_Inception_Net', feed one image at a time (float
    [0, 255]) to ExpandDims:0 in a v1 Session, read pool_3:0 (the original kernels)."""
    gd = tf1.GraphDef()
    with open(path, "rb") as f:
        gd.ParseFromString(f.read())
    with tf.Graph().as_default():
        tf1.import_graph_def(gd, name="FID_Inception_Net")
        with tf1.Session() as sess:
            return np.concatenate([sess.run("FID_Inception_Net/pool_3:0",
                                            {"FID_Inception_Net/ExpandDims:0": x[None].astype(np.float32)})
                                   for x in images]).reshape(len(images), -1)


def test_frozen_graph_loader_finds_pool_3_and_matches_ttur_feeding(tmp_path):
    path = make_fid_graph(tmp_path / F.STANDARD_GRAPH, dim=8)
    images = np.random.default_rng(6).integers(0, 256, (5, 20, 24, 3), dtype=np.uint8)
    ext = F.FeatureExtractor(path, batch_size=2)
    assert ext.kind == "frozen_graph" and ext.dim == 8 and ext.input_size == F.FID_SIZE
    assert ext.identity == "frozen_graph:" + F.file_identity(path)
    feats = ext(images)
    assert feats.shape == (5, 8) and np.all(np.isfinite(feats))
    # The batched TF 2 function (batch-norm rewritten) equals TTUR's per-image session.
    np.testing.assert_allclose(feats, _ttur_features(path, images), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(F.FeatureExtractor(path, batch_size=5)(images), feats, rtol=1e-6)
    # The graph resizes inside with the 2015 op (no half-pixel centres): feeding a 299 image
    # resized by tf.image.resize instead would give other features.
    assert not np.allclose(ext(images[:, :20, :20]), ext(tf.cast(tf.round(tf.image.resize(
        images[:, :20, :20], [299, 299])), tf.uint8).numpy()), rtol=1e-3)


def test_frozen_graph_errors_name_what_is_wrong(tmp_path):
    no_pool = make_fid_graph(tmp_path / "no_pool.pb", pool=False)
    with pytest.raises(ValueError, match="no tensor pool_3:0"):
        F.FeatureExtractor(no_pool)
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\x00\xff not a protobuf \xff" * 10)
    with pytest.raises(ValueError, match="not a frozen TensorFlow GraphDef|no tensor"):
        F.FeatureExtractor(str(junk))


def test_the_standard_graph_in_the_cache_comes_before_the_keras_weights(tmp_path, monkeypatch):
    monkeypatch.delenv(F.ENV_WEIGHTS, raising=False)
    os.makedirs(tmp_path / "inception")
    for name in (F.KERAS_NOTOP, F.STANDARD_GRAPH):
        (tmp_path / "inception" / name).write_bytes(b"")
    assert F.resolve_weights(cache=str(tmp_path)).endswith(F.STANDARD_GRAPH)


# ---- the registry: streamed = in memory, the cache, bad input ---------------------------------

@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return make_fid_graph(tmp_path_factory.mktemp("fid") / F.STANDARD_GRAPH, dim=16)


def test_registry_fid_kid_pr_equal_in_memory_formulas_on_the_same_images(G, tmp_path, graph):
    n, batch = 12, 5  # several uneven batches on both sides
    kw = dict(num=n, cache=str(tmp_path), feature_path=graph, batch_size=batch)
    got = {name: registry.calc_metric(name, G, "procedural", **kw)["results"]
           for name in ("fid50k", "kid50k", "pr50k3")}
    ext = F.FeatureExtractor(graph, batch_size=batch)
    reals = np.concatenate(list(stream.real_batches("procedural", 16, n, batch)))
    real, fake = ext(reals), ext(generate_images(G, range(n), batch_size=batch))
    assert got["fid50k"]["fid"] == pytest.approx(S.fid_from_features(fake, *S.feature_moments(real)),
                                                 rel=1e-6)
    assert got["kid50k"]["kid_x1e3"] == 1e3 * S.kid(real, fake)
    assert got["pr50k3"] == S.precision_recall(real, fake, k=3)


def test_cache_holds_statistics_never_images(G, tmp_path, graph):
    kw = dict(num=8, cache=str(tmp_path), feature_path=graph)
    for name in ("swd", "fid50k", "kid50k", "spectral", "patch_swd", "upsampled_fid"):
        registry.calc_metric(name, G, "procedural", **kw)
    registry.real_vs_real("patch_swd", "procedural", 16, **kw)
    files = glob.glob(str(tmp_path / "stats" / "*.npz"))
    kinds = {os.path.basename(p).split("-")[0] for p in files}
    assert kinds == {"descriptors", "moments", "features", "spectrum"}
    for path in files:
        with np.load(path) as f:
            for key in f.files:
                a = f[key]
                assert not (a.dtype == np.uint8 or (a.ndim == 4 and a.shape[-1] == 3 and a.shape[1] > 7)), \
                    (path, key, a.dtype, a.shape)
    assert not glob.glob(str(tmp_path / "stats" / "*.tmp*"))  # written, then renamed


@pytest.mark.parametrize("compress", [False, True])
def test_stale_or_truncated_cache_files_are_rebuilt(tmp_path, capsys, compress):
    calls = []

    def compute():
        calls.append(1)
        return {"mu": np.arange(3000.0), "count": np.int64(5)}
    key = {"source": "s", "resolution": 8, "num": 5}
    first = cache_lib.cached(str(tmp_path), "moments", key, compute, compress=compress)
    (path,) = glob.glob(str(tmp_path / "stats" / "*.npz"))
    assert cache_lib.cached(str(tmp_path), "moments", key, compute)["mu"][:3].tolist() == [0, 1, 2]
    assert len(calls) == 1
    data = open(path, "rb").read()
    for cut in (len(data) // 2, len(data) - 30):  # an interrupted copy, a full disk
        with open(path, "wb") as f:
            f.write(data[:cut])
        got = cache_lib.cached(str(tmp_path), "moments", key, compute, compress=compress)
        np.testing.assert_array_equal(got["mu"], first["mu"])
        assert "rebuilding" in capsys.readouterr().err
    assert len(calls) == 3
    # A file of another version at the same name (as after a hash collision or a copy).
    np.savez(path, key='{"version": 1}', mu=np.zeros(3))
    cache_lib.cached(str(tmp_path), "moments", key, compute)
    assert len(calls) == 4 and "another key or version" in capsys.readouterr().err
    # A file whose arrays fail the caller's check is not trusted either.
    cache_lib.cached(str(tmp_path), "moments", key, compute, check=lambda a: a["sigma"])
    assert len(calls) == 5
    with pytest.raises(ValueError, match="refusing to cache images"):
        cache_lib.cached(str(tmp_path), "x", key, lambda: {"images": np.zeros((2, 8, 8, 3), np.uint8)})


def test_too_few_real_images_say_how_many_there_are(G, tmp_path):
    kw = dict(cache=str(tmp_path))
    with pytest.raises(ValueError, match="has 6 images, fewer than the 8 asked for: pass num=6"):
        registry.calc_metric("swd", G, "procedural:6", num=8, **kw)
    with pytest.raises(ValueError, match=r"2 x num\): pass num=3"):
        registry.real_vs_real("spectral", "procedural:6", 16, num=4, **kw)
    with pytest.raises(ValueError, match="pr50k3 needs num >= 4"):
        registry.calc_metric("pr50k3", G, "procedural", num=3, **kw)
    # The default num is a cap: a smaller source is used whole (real_vs_real: in two halves).
    record = registry.real_vs_real("spectral", "procedural:7", 16, **kw)
    assert record["num_real"] == 3 and record["num_images"] == 4
    # A stream that ends early (sources that cannot count up front) says so too.
    with pytest.raises(ValueError, match="has 6 images, fewer than the 9"):
        list(stream.real_batches("procedural:6", 16, 9, 4, exact=True))


def test_progress_line_when_asked(G, tmp_path, capsys):
    registry.calc_metric("spectral", G, "procedural", num=6, cache=str(tmp_path), progress=True,
                         batch_size=4)
    out = capsys.readouterr().out
    assert "reals 16x16 -> ring power" in out and "inr 16x16 -> ring power" in out
    assert "6/6" in out and "image/s" in out
    registry.calc_metric("spectral", G, "procedural", num=6, cache=str(tmp_path))
    assert capsys.readouterr().out == ""  # not a terminal: quiet
