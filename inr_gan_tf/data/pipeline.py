"""`make_dataset`: the tf.data pipeline from a source to training batches.

    source (resolve_source) -> shard per input pipeline -> seeded shuffle -> decode
      -> [repeat] -> centre crop + resize to R -> random h-flip -> [-1, 1] -> batch -> prefetch

Determinism: the shuffle is seeded and every map is order-preserving, and each flip is drawn
from a stateless seed (seed, pipeline, element counter), so the same seed gives the same
batches regardless of thread timing. Unreadable images are dropped and counted in
`source.stats` (see `DataStats`), never silently.
"""
from typing import Optional, Union

import tensorflow as tf

from inr_gan_tf.data.base import Source
from inr_gan_tf.data.sources import resolve_source
from inr_gan_tf.data.transforms import center_crop_resize, random_flip, to_unit_range


def make_dataset(source: Union[str, Source], resolution: int, batch_size: int, *, seed: int,
                 shuffle: bool = True, flip: bool = True, repeat: bool = True,
                 input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """Batches of float32 images [B, R, R, 3] in [-1, 1].

    source:        a spec string for `resolve_source`, or a source it returned (keep the
                   source to read `source.stats`: count and skipped files).
    resolution:    R, the training resolution (images are centre-cropped, then resized).
    batch_size:    the global batch. With `input_context` each pipeline yields its replicas'
                   share, `input_context.get_per_replica_batch_size(batch_size)`, as
                   `strategy.distribute_datasets_from_function` expects.
    seed:          shuffle order and flips; same seed, same stream.
    shuffle, flip: off for evaluation / dataset statistics.
    repeat:        endless stream with full batches (static batch dimension); if False, one
                   pass that keeps the last partial batch, so every image is seen once.
    input_context: from tf.distribute; pipeline k of n reads a disjoint 1/n of the data.
    """
    if isinstance(source, str):
        source = resolve_source(source)
    R, batch_size, seed = int(resolution), int(batch_size), int(seed)
    if R < 1 or batch_size < 1:
        raise ValueError(f'need resolution >= 1 and batch_size >= 1, got {R}, {batch_size}')
    pipeline_id = 0
    if input_context is not None:
        pipeline_id = input_context.input_pipeline_id
        batch_size = input_context.get_per_replica_batch_size(batch_size)

    ds = source.dataset(R, shuffle=shuffle, seed=seed, input_context=input_context)
    if repeat:
        ds = ds.repeat()
    # 2^40 images per pipeline before flip seeds of two pipelines could meet: never in practice.
    stream = tf.constant(pipeline_id * (1 << 40), tf.int64)

    def process(i, image):
        image = center_crop_resize(image, R)  # [R, R, 3] float32 in [0, 255]
        if flip:
            image = random_flip(image, tf.stack([tf.constant(seed, tf.int64), stream + i]))
        return to_unit_range(image)

    ds = ds.enumerate().map(process, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=repeat)
    return ds.prefetch(tf.data.AUTOTUNE)
