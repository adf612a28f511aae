"""TFDS builder `noto_emoji`: `tfds.load('noto_emoji/64', data_dir=...)` once inr_gan_tf.data
is imported.

One builder config per resolution (32, 64 (default), 128, 256), each the shipped vector set
rendered at that size (from the same disk cache as `load_noto_emoji`). Preparing needs no
download: the download manager is never called and the GCS lookup for pre-built data is off.
"""
import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from inr_gan_tf.data.noto_emoji import load_icons, pins, render_set

RESOLUTIONS = (32, 64, 128, 256)

_DESCRIPTION = """\
Noto Emoji (Apache-2.0), the {count} base icons (no skin-tone variants, no duplicates) of the
npm package {package} {version}, rasterized from their SVG sources with resvg at
{resolution}x{resolution}, anti-aliased, on white. Shipped with inr_gan_tf; prepared offline.
"""


@dataclasses.dataclass(eq=False)
class NotoEmojiConfig(tfds.core.BuilderConfig):
    resolution: int = 64  # side of the square renders


class NotoEmoji(tfds.core.GeneratorBasedBuilder):
    """The shipped Noto emoji, R x R RGB, a single `train` split; `name` is the icon name."""

    VERSION = tfds.core.Version('2.0.0')
    RELEASE_NOTES = {
        '1.0.0': 'emoji-datasource-google 16.0.0 PNGs at 64x64, base emoji only.',
        '2.0.0': '@iconify-json/noto 1.2.9 SVGs rendered per config resolution.',
    }
    BUILDER_CONFIGS = [NotoEmojiConfig(name=str(r), resolution=r,
                                       description=f'rendered at {r}x{r}') for r in RESOLUTIONS]
    DEFAULT_BUILDER_CONFIG_NAME = '64'

    def _info(self) -> tfds.core.DatasetInfo:
        r = self.builder_config.resolution
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION.format(resolution=r, **pins()),
            features=tfds.features.FeaturesDict({
                'image': tfds.features.Image(shape=(r, r, 3)),
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
        r = self.builder_config.resolution
        icons = load_icons()
        images, bad = render_set(icons, r, r)
        refused = {name for name, _ in bad}  # left out, as load_noto_emoji does
        for name, image in zip(icons[0], images):
            if name not in refused:
                yield name, {'image': np.asarray(image), 'name': name}
