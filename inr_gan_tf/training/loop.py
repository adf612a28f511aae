"""The training loop: one code path for the default strategy and MirroredStrategy.

Each iteration is one G step then one D step (with R1 on real images, App. A) on a global
batch, then the G EMA. Latents are drawn on the host from the checkpointed RNG for the whole
global batch and split over replicas, so a run's numbers do not depend on the replica count.
A non-finite loss restores the last checkpoint and goes on with new latents; repeated failures
stop the run.

With patch training (config "patch", losses.Patches) the last P of the B views of each batch
are patches: the reals are (frames [B-P], patches [P], their windows [P, 4]) from
`training_data`, the fakes' windows are drawn after the latents from the same RNG, and frames
and patches are split over replicas separately, so every replica holds frames then patches and
the global batch is the same set of views for any replica count.
"""
import collections.abc
import contextlib
import json
import math
import os
import signal
import threading
import time
import zlib
from typing import Optional

import numpy as np
import tensorflow as tf
from absl import logging

from inr_gan_tf import coords as coords_lib, progress
from inr_gan_tf.training.ema import EMA
from inr_gan_tf.training.losses import Consistency, GANLoss, Patches, with_frames
from inr_gan_tf.training.precision import apply_if
from inr_gan_tf.training.state import TrainState

MAX_NONFINITE_RESTORES = 3
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
REPEAT_S = 1.0  # a second stop signal sooner than this is the first one forwarded again


@contextlib.contextmanager
def stop_on_signals(on_first):
    """SIGTERM/SIGINT: the first calls `on_first(signum)` (the loop saves, then stops); a second
    one, REPEAT_S or more later, ends the process at once with 128 + signum, even inside a step
    that never returns to Python. Off the main thread (no signal handlers there): nothing.

    Python runs its handlers only between bytecodes of the main thread, so a step blocked in C++
    would hear neither; the C-level handler still writes each signal's number to the wakeup fd,
    which a watchdog thread reads. A repeat within REPEAT_S is the same stop (launchers such as
    srun or a shell trap forward a signal the process group already got). A hard exit mid-save
    leaves a partial newest checkpoint, which the next start skips for the newest intact one.
    Bytes of other signals go on to a wakeup fd that was set before (asyncio's, say).
    """
    if threading.current_thread() is not threading.main_thread():
        logging.warning("training off the main thread: SIGTERM/SIGINT do not save a checkpoint")
        yield
        return
    read_fd, write_fd = os.pipe()
    old_fd, watchdog, old = None, None, {}
    first = []  # monotonic time of the first stop signal

    def watch():
        while True:
            try:
                data = os.read(read_fd, 64)
            except OSError:
                return
            if not data:  # the write end closed: the run is over
                return
            for signum in data:
                if signum not in STOP_SIGNALS:
                    if old_fd is not None and old_fd >= 0:
                        try:
                            os.write(old_fd, bytes([signum]))
                        except OSError:
                            pass
                elif not first:
                    first.append(time.monotonic())
                elif time.monotonic() - first[0] >= REPEAT_S:
                    os.write(2, f"signal {signum} again: exiting now, without waiting for the step "
                                "or the save in progress\n".encode())
                    os._exit(128 + signum)

    try:  # the fd and its reader first, the handlers last: no signal is heard by one alone
        os.set_blocking(write_fd, False)  # a signal handler must never block on a full pipe
        old_fd = signal.set_wakeup_fd(write_fd)
        watchdog = threading.Thread(target=watch, name="signal-watchdog", daemon=True)
        watchdog.start()
        for sig in STOP_SIGNALS:
            old[sig] = signal.signal(sig, lambda signum, _frame: on_first(signum))
        yield
    finally:  # in reverse: no signal lands on a finished fit, and nothing is left open
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if old_fd is not None:
            signal.set_wakeup_fd(old_fd)
        os.close(write_fd)
        if watchdog is not None:
            watchdog.join(timeout=5)
        os.close(read_fd)


def training_data(config: dict, source, start: int = 0,
                  input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """What Trainer.step takes, from step `start` on: batches of real frames [B, R, R, 3], or with
    patch training (frames [B-P, R, R, 3], patches [P, R, R, 3], their windows [P, 4]).

    Patches come from data.make_views with the Patches rule for windows and their own seed
    (so a step's patches are not windows of its frames' images). Both streams are deterministic
    per seed; the stream from step `start` is the data position of a checkpoint, and the images
    and views of the steps before it are left out without being decoded or rendered (the
    start_batch of make_dataset and make_views).
    """
    from inr_gan_tf import data
    if isinstance(source, str):  # resolved once: frames and patches share its stats
        source = data.resolve_source(source)
    R, B, seed = config["generator"]["resolution"], config["batch_size"], config["seed"]
    patches = Patches(**config["patch"]) if "patch" in config else None
    n = patches.count(B) if patches else 0
    jitter = jitter_points(config)
    # Each input pipeline feeds its replicas one per-replica batch each per step (MirroredStrategy
    # on 2 devices: 2 elements a step).
    per_step = 1
    if input_context is not None:
        per_step = input_context.num_replicas_in_sync // input_context.num_input_pipelines
    first = start * per_step  # the first batch of this pipeline the run has not used
    if jitter > 1:  # frames are views of the frame's window, jittered and flipped as make_dataset's
        unit = lambda seed_: tf.constant(coords_lib.UNIT_BOUNDS, tf.float32)  # noqa: E731
        ds = data.make_views(source, R, B - n, seed=seed, bounds_fn=unit, jitter=jitter, flip=True,
                             start_batch=first, input_context=input_context).map(lambda images, bounds: images)
    else:
        ds = data.make_dataset(source, R, B - n, seed=seed, start_batch=first, input_context=input_context)
    if patches:  # start_batch, not .skip(): a resume must not render every view it throws away
        views = data.make_views(source, R, n, seed=(seed + 1) % 2 ** 32, scale=(patches.min_scale, 1.0),
                                bounds_fn=patches.stateless, jitter=jitter, start_batch=first,
                                input_context=input_context)
        ds = tf.data.Dataset.zip((ds, views)).map(lambda frames, view: (frames, *view))
    return ds


def learning_rate_scale(nimg: int, total_kimg: float, rampdown_kimg: float) -> float:
    """Factor on every learning rate for the step after `nimg` images: 1, then a cosine down to 0
    over the last `rampdown_kimg` of `total_kimg` (0: always 1). A function of the images seen
    alone, so a resumed run takes the same steps as an uninterrupted one; extending a finished
    run with a larger --total_kimg ramps the rates back up."""
    if not rampdown_kimg:
        return 1.0
    left = min(max((total_kimg * 1000 - nimg) / (rampdown_kimg * 1000), 0.0), 1.0)
    return 0.5 - 0.5 * math.cos(math.pi * left)


def jitter_points(config: dict) -> int:
    """k of jittered training pixels (each at one of k x k sub-points; losses.py), 1 without."""
    return config["generator"].get("antialias", 1) if config.get("jitter") else 1


class Trainer:
    def __init__(self, state: TrainState, xla: bool = False):
        self.s = state
        cfg = state.config
        self.batch = cfg["batch_size"]
        self.ema = EMA(ema_kimg=cfg["ema"]["ema_kimg"], ema_rampup=cfg["ema"]["ema_rampup"] or None)
        # No "patch" section: full frames only (runs from before patch training have none).
        self.patches = Patches(**cfg["patch"]) if "patch" in cfg else None
        self.n_patches = self.patches.count(self.batch) if self.patches else 0
        self.jitter = jitter_points(cfg)
        if cfg.get("jitter") and self.jitter < 2:
            raise ValueError("jitter needs the generator's antialias >= 2: the sub-points each pixel draws from")
        if cfg.get("jitter") and "consistency" in cfg["loss"]:  # a hand-edited config.json (options refuse it)
            raise ValueError("jitter and a consistency term do not go together: a jittered frame pixel is one "
                             "random point, not the pixel the term averages back to")
        nrep = state.strategy.num_replicas_in_sync
        if self.patches and not (0 < self.n_patches < self.batch and self.n_patches % nrep == 0):
            raise ValueError(f"patch ratio {self.patches.ratio} gives {self.n_patches} patches in a batch of "
                             f"{self.batch}: need at least one patch and one frame, patches divisible by "
                             f"{nrep} replicas")
        if getattr(state.D, "splits_views", False) and not self.patches:
            raise ValueError("the discriminator has separate_patches but the run has no patch section: "
                             "a second D for patches needs patch training")
        self.loss = GANLoss(state.G, state.D, r1_gamma=cfg["loss"]["r1_gamma"],
                            r1_interval=cfg["loss"]["r1_interval"],
                            local_weight=cfg["loss"].get("local_weight", 1.0),
                            # Only in configs that set it: earlier runs have no "consistency".
                            consistency=Consistency(**cfg["loss"]["consistency"])
                            if "consistency" in cfg["loss"] else None,
                            patch_views=self.n_patches // nrep,  # each replica's share, after its frames
                            spectral=cfg["loss"].get("spectral", 0.0))  # absent in earlier runs: off
        # jit_compile goes on the per-replica step: around strategy.run it fails with resource
        # placement errors.
        self._replica_step = tf.function(self._replica_step_fn, jit_compile=xla)
        optim = cfg["optim"]
        self._rampdown_kimg = optim.get("lr_rampdown_kimg", 0.0)  # absent in earlier runs: constant
        self._base_lrs = [(state.opt_hyper, optim["lr_hypernet"]), (state.opt_inr, optim["lr_inr"]),
                          (state.opt_d, optim["lr_d"])]
        self._signal = None     # the stop signal this fit received, if any
        # Workers of a cluster (MultiWorkerMirroredStrategy) agree on stopping (_stop_signal).
        self._cluster = state.cluster_size > 1
        self.stopped_by = None  # the signal that stopped fit short of total_kimg, if one did

    # -- one iteration ---------------------------------------------------------------------
    def _replica_step_fn(self, reals, z_g, z_d, do_r1, pixels=None, sub_g=None, sub_d=None):
        s = self.s
        nrep = tf.distribute.get_replica_context().num_replicas_in_sync
        n_hyper = len(s.hyper_vars)
        real_bounds = g_bounds = d_bounds = None  # frames only
        if self.patches:  # (frames, patches, patch windows) -> views and the windows of all
            reals, real_bounds = with_frames(*reals)
            (z_g, g_bounds), (z_d, d_bounds) = with_frames(*z_g), with_frames(*z_d)
            if sub_g is not None:  # split as the latents, so joined as they are: frames, then patches
                sub_g, sub_d = tf.concat(sub_g, 0), tf.concat(sub_d, 0)
        with tf.GradientTape() as tape:
            g_loss, g_stats, w = self.loss.generator_loss(z_g, g_bounds, pixels, sub_g,
                                                          reals if self.loss.spectral else None)
            g_obj = g_loss / nrep  # optimizers sum gradients over replicas
        grads, g_ok = self._update(s.g_scale, tape, g_obj, [(s.opt_hyper, s.hyper_vars), (s.opt_inr, s.inr_vars)])
        with tf.GradientTape() as tape:
            d_loss, d_stats = self.loss.discriminator_loss(z_d, reals, do_r1, d_bounds, real_bounds, sub_d)
            d_obj = d_loss / nrep
        d_grads, d_ok = self._update(s.d_scale, tape, d_obj, [(s.opt_d, s.D.trainable_variables)])

        def norm(g, ok):  # a skipped float16 update is not a failure: it shows as norm 0
            return tf.where(ok, tf.linalg.global_norm(g), 0.0)
        stats = {"loss_g": g_loss, "loss_d": d_loss,
                 "grad_norm_g": norm(grads, g_ok), "grad_norm_d": norm(d_grads, d_ok),
                 "grad_norm_g_hypernet": norm(grads[:n_hyper], g_ok),
                 "grad_norm_g_inr": norm(grads[n_hyper:], g_ok),
                 "w_mean": tf.reduce_mean(w, 0), **g_stats, **d_stats}
        if s.g_scale is not None:
            stats.update({"loss_scale_g": s.g_scale.scale.read_value(),
                          "loss_scale_d": s.d_scale.scale.read_value(),
                          "skipped_g": 1.0 - tf.cast(g_ok, tf.float32),
                          "skipped_d": 1.0 - tf.cast(d_ok, tf.float32)})
        return stats

    @staticmethod
    def _update(scale, tape, objective, groups):
        """(gradients, applied) of one loss, applied by the optimizers of its variable groups.

        With a loss scale (float16) the whole update is skipped on overflow, for every group at
        once, and the scale adapts; otherwise the optimizers apply unconditionally.
        """
        variables = [v for _, vs in groups for v in vs]
        bounds = np.cumsum([0] + [len(vs) for _, vs in groups])

        def apply(grads):
            for (opt, vs), a, b in zip(groups, bounds[:-1], bounds[1:]):
                opt.apply(grads[a:b], vs)
        if scale is None:
            grads = tape.gradient(objective, variables)
            apply(grads)
            return grads, tf.constant(True)
        grads, finite = scale.gradients(tape, objective, variables)
        apply_if(finite, apply, grads)
        scale.update(finite)
        return grads, finite

    def _split(self, value):
        """Host tensors (a nest) with a global batch axis -> per-replica slices of each."""
        strategy = self.s.strategy
        nrep = strategy.num_replicas_in_sync

        def local(ctx):
            def part(t):
                per = t.shape[0] // nrep
                return t[ctx.replica_id_in_sync_group * per:(ctx.replica_id_in_sync_group + 1) * per]
            return tf.nest.map_structure(part, value)
        return strategy.experimental_distribute_values_from_function(local)

    @tf.function
    def _post_step(self, w_mean):
        s = self.s
        s.G.mapping.update_w_avg(w_mean[None])
        s.nimg.assign_add(self.batch)
        s.step.assign_add(1)
        self.ema.update(s.G, s.G_ema, s.nimg, self.batch)

    def step(self, reals):
        s, strategy = self.s, self.s.strategy
        z = s.rng.normal([2, self.batch, s.G.z_dim])
        if self.patches:
            # Drawn after z, so the latents are the stream of a run without patches.
            bounds = self.patches.draw(s.rng, [2, self.n_patches])    # [2, P, 4]
            f = self.batch - self.n_patches
            z_g, z_d = ((z[i, :f], z[i, f:], bounds[i]) for i in (0, 1))  # frames, patches, windows
        else:
            z_g, z_d = z[0], z[1]
        args = (reals, self._split(z_g), self._split(z_d))
        # Python bool: R1 every step is traced once without masking; lazy R1 traces both kinds.
        args += (int(s.step.numpy()) % self.loss.r1_interval == 0,)
        kwargs, frames = {}, self.batch - self.n_patches
        if self.loss.consistency is not None:
            # Drawn after the windows: the latents and windows are the stream of a run without
            # the term. The frames of the G step come first in its views, split over replicas as
            # its latents.
            kwargs["pixels"] = self._split(self.loss.consistency.draw(s.rng, frames, s.G.resolution))
        if self.jitter > 1:
            # Drawn last, as the pixels above; split as the latents (frames, then patches).
            k, R = self.jitter, s.G.resolution
            sub = s.rng.uniform([2, self.batch, R * R], 0, k * k, dtype=tf.int32)
            for i, key in enumerate(("sub_g", "sub_d")):
                kwargs[key] = self._split((sub[i, :frames], sub[i, frames:]) if self.patches else sub[i])
        out = strategy.run(self._replica_step, args=args, kwargs=kwargs)
        stats = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in out.items()}
        self._post_step(stats.pop("w_mean"))
        return {k: float(v) for k, v in stats.items()}

    # -- the run ---------------------------------------------------------------------------
    def _on_signal(self, signum):
        logging.warning("signal %d: saving a checkpoint after this step, then exiting (send it again "
                        "to exit at once; the last saved checkpoint stays)", signum)
        self._signal = signum

    def _check_workers_agree(self, total_kimg: float) -> None:
        """Raises on every worker of a cluster, before the first step, unless all train the same
        config to the same total_kimg. Each worker checks only its own flags against the run's
        config.json, and total_kimg and the ramp may change on resume: workers given different
        values would take different steps (and hang in a collective, or drift apart)."""
        # Not the data spec: each machine may read its own copy under its own path.
        config = {k: v for k, v in self.s.config.items() if k != "data"}
        text = json.dumps([config, float(total_kimg)], sort_keys=True).encode()
        crc = zlib.crc32(text)
        mine = np.array([[crc >> 16, crc & 0xFFFF]], np.float32)  # 16-bit halves: exact in float32
        strategy = self.s.strategy
        local = strategy.experimental_distribute_values_from_function(lambda ctx: tf.constant(mine))
        every = strategy.gather(local, axis=0).numpy()  # all workers get every row: one decision
        if not (every == every[:1]).all():
            raise ValueError("the workers of this cluster were given different training flags "
                             "(config or --total_kimg); start every worker with the same ones")

    def _stop_signal(self, error: Optional[Exception] = None) -> Optional[int]:
        """The stop signal to end the run on before the next step, or None; in a cluster, raises
        if a worker failed (`error`: this worker's failure in its last save or callback; alone,
        a failure is raised where it happens).

        In a cluster a signal reaches the workers at different times (or only one of them); one
        that stopped alone would sit in save() while the others wait in the next step's
        collective: a hang. So the workers all-reduce what each has received, once per step,
        and all stop after the same step on the largest signal number any received. Slot 0 of
        the same vector says that a worker failed: all then raise together, nobody saves (the
        last checkpoint stays), instead of the others waiting for it forever.
        """
        signum = self._signal  # read once: the handler may set it at any bytecode
        if not self._cluster:
            return signum
        strategy = self.s.strategy
        heard = np.zeros([max(STOP_SIGNALS) + 1], np.float32)
        heard[0] = error is not None
        if signum is not None:
            heard[signum] = 1.0
        local = strategy.experimental_distribute_values_from_function(lambda ctx: tf.constant(heard))
        counts = strategy.reduce(tf.distribute.ReduceOp.SUM, local, axis=None).numpy()
        if counts[0]:
            if error is not None:
                raise error
            raise RuntimeError("another worker of the cluster failed (its log says why); stopping with it, "
                               "the last saved checkpoint stays")
        return int(np.flatnonzero(counts[1:]).max()) + 1 if counts[1:].any() else None

    def fit(self, dataset, total_kimg: float, ckpt_every: int = 200, log_every: int = 10,
            callbacks=(), profile_steps=None):
        """Trains until total_kimg; saves every `ckpt_every` steps, on SIGTERM/SIGINT and at the end.
        A signal that ends it short of total_kimg is left in `stopped_by` (one arriving during the
        final save or callbacks is not: the run is complete); a second exits at once (stop_on_signals).

        callbacks: `cb(step, writer)` after every step, and `cb(step, writer, final=True)` once when
        total_kimg is reached (not on a signal), for output that must exist at the end of a run.

        profile_steps=(A, B): a profiler trace of steps A..B (as numbered in the log) goes to
        run_dir/logs/plugins/profile, where TensorBoard's profile tab (xprof) shows it.
        """
        self._signal = self.stopped_by = None  # a signal ends one fit, not the trainer
        with stop_on_signals(self._on_signal):
            return self._fit(dataset, total_kimg, ckpt_every, log_every, callbacks, profile_steps)

    def _fit(self, dataset, total_kimg, ckpt_every, log_every, callbacks, profile_steps):
        s = self.s
        # One writer per run: the chief logs, samples and measures; other workers only train.
        writer = (tf.summary.create_file_writer(os.path.join(s.run_dir, "logs")) if s.is_chief
                  else tf.summary.create_noop_writer())
        callbacks = callbacks if s.is_chief else ()
        # An iterator continues where it was; a dataset starts a new pass (and a new shuffle).
        iterator = dataset if isinstance(dataset, collections.abc.Iterator) else iter(dataset)
        failures, t0, n0 = 0, time.time(), int(s.nimg.numpy())
        first_step = int(s.step.numpy())
        profile = tuple(profile_steps) if profile_steps and s.is_chief else None
        profiling = False
        if self._cluster:
            self._check_workers_agree(total_kimg)
        try:
            stop = error = None
            while s.nimg.numpy() < total_kimg * 1000 and (stop := self._stop_signal(error)) is None:
                next_step = int(s.step.numpy()) + 1
                if profile and next_step == profile[0] and not profiling:
                    tf.profiler.experimental.start(os.path.join(s.run_dir, "logs"))
                    profiling = True
                # Set from the images seen before every step, ramp or not (variables the compiled
                # step reads: no retrace): the rates are checkpointed too, so a checkpoint
                # restored after a non-finite loss, or a run resumed without the ramp it had
                # (checkpoint.RESUMABLE_KEYS), would otherwise train at the rates it saved.
                scale = learning_rate_scale(int(s.nimg.numpy()), total_kimg, self._rampdown_kimg)
                for opt, lr in self._base_lrs:
                    opt.learning_rate = lr * scale
                with tf.profiler.experimental.Trace("train", step_num=next_step, _r=1):
                    stats = self.step(next(iterator))
                step, nimg = int(s.step.numpy()), int(s.nimg.numpy())
                if profiling and step >= profile[1]:
                    tf.profiler.experimental.stop()
                    profiling = False
                    logging.info("profiler trace of steps %d-%d in %s", profile[0], profile[1],
                                 os.path.join(s.run_dir, "logs", "plugins", "profile"))
                if not all(np.isfinite(v) for v in stats.values()):
                    failures += 1
                    restored = s.restore_latest()  # also on the last try: never leave NaN weights
                    s.rng.skip(failures * 1_000_003)  # new latents, not a replay of the failed ones
                    if failures > MAX_NONFINITE_RESTORES or not restored:
                        raise FloatingPointError(
                            f"non-finite loss at step {step} ({stats}) and no good state to go back to "
                            f"after {failures} tries: lower the learning rates or check the data")
                    logging.warning("non-finite loss at step %d: restored step %d and skipped the update",
                                    step, int(s.step.numpy()))
                    continue
                failures = 0
                if log_every and step % log_every == 0 and s.is_chief:
                    rate = (nimg - n0) / max(time.time() - t0, 1e-9)
                    eta = (total_kimg * 1000 - nimg) / max(rate, 1e-9)
                    logging.info("kimg %.2f  step %d  %.1f img/s  ETA %s  G %.3f  D %.3f",
                                 nimg / 1000, step, rate, progress.eta(eta), stats["loss_g"], stats["loss_d"])
                    with writer.as_default(step=step):
                        for k, v in stats.items():
                            tf.summary.scalar(f"train/{k}", v)
                        tf.summary.scalar("train/images_per_s", rate)
                        if self._rampdown_kimg:  # the factor on the rates of the next step
                            tf.summary.scalar("train/lr_scale", learning_rate_scale(
                                nimg, total_kimg, self._rampdown_kimg))
                try:
                    if ckpt_every and step % ckpt_every == 0:  # 0: only at the end and on a signal
                        s.save()
                    for cb in callbacks:
                        cb(step, writer)
                except Exception as e:  # a cluster's workers learn of it in the next agreement
                    error = e
                    if not self._cluster:
                        raise
            if self._cluster and stop is None:
                # Ended at total_kimg (every worker at the same step, so every worker is here): the
                # last step's failures reach the others before anyone saves. Elsewhere an error
                # has already been raised, in place or by the agreement at the loop's head.
                self._stop_signal(error)
            if s.nimg.numpy() < total_kimg * 1000:
                self.stopped_by = stop
            s.save()
            step = int(s.step.numpy())
            if self.stopped_by is None and step != first_step:
                # The finished run's own grids and metrics, whatever its length: callbacks skip
                # steps off their period, so a short or extended run would otherwise end without.
                for cb in callbacks:
                    cb(step, writer, final=True)
        finally:
            if profiling:
                tf.profiler.experimental.stop()
            writer.flush()
        return int(s.step.numpy())
