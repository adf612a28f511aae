"""TFDS builder `noto_emoji`: `tfds.load('noto_emoji', data_dir=...)` after `import inr_gan_tf.data`.

Generated from the .npz shipped in this folder, so preparing needs no download: the download
manager is never called and the GCS lookup for pre-built data is switched off.
"""
import numpy as np
import tensorflow_datasets as tfds

from inr_gan_tf.data.noto_emoji import RESOLUTION, load_noto_emoji, pins

_DESCRIPTION = """\
Noto Color Emoji (Apache-2.0) at 64x64, alpha-composited on white, one image per emoji
without skin-tone variants, from the npm package emoji-datasource-google 16.0.0. Shipped
with inr_gan_tf; prepared offline.
"""


class NotoEmoji(tfds.core.GeneratorBasedBuilder):
    """1911 Noto emoji, 64x64 RGB, a single `train` split."""

    VERSION = tfds.core.Version('1.0.0')
    RELEASE_NOTES = {'1.0.0': 'emoji-datasource-google 16.0.0, base emoji only.'}

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict({
                'image': tfds.features.Image(shape=(RESOLUTION, RESOLUTION, 3)),
                'name': tfds.features.Text(),
            }),
            supervised_keys=None,
            license='Apache-2.0',
        )

    def download_and_prepare(self, *, download_dir=None, download_config=None, **kwargs):
        # Pre-built copies are looked up on GCS unless told otherwise; this dataset has none
        # and must prepare without network access.
        download_config = (download_config or tfds.download.DownloadConfig()).replace(
            try_download_gcs=False)
        return super().download_and_prepare(download_dir=download_dir,
                                            download_config=download_config, **kwargs)

    def _split_generators(self, dl_manager):
        del dl_manager  # everything is local
        return {'train': self._generate_examples()}

    def _generate_examples(self):
        images, names = load_noto_emoji(with_names=True)
        if len(images) != pins()['count']:
            raise ValueError(f'expected {pins()["count"]} emoji, found {len(images)}')
        for i, (image, name) in enumerate(zip(images, names)):
            yield i, {'image': np.asarray(image), 'name': name}
