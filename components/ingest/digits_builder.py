"""An offline TFDS dataset: the UCI handwritten digits that scikit-learn ships.

1,797 real 8x8 scans, scaled to 0-255 and resized to 28x28x1 uint8 with the feature
names of fashion_mnist (`image`, `label`), so every model works unchanged on both.
The split is a stratified 80/20 with a fixed seed: 1,437 train and 360 test images.
"""

import numpy as np
import tensorflow_datasets as tfds

IMAGE_SIZE = 28
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def digits_arrays():
    """(images uint8 [N,28,28,1], labels int64 [N]) in scikit-learn's order."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    scaled = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)
    resized = np.stack(
        [np.asarray(Image.fromarray(img).resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)) for img in scaled]
    )
    return resized[..., np.newaxis], digits.target.astype(np.int64)


class DistmlDigits(tfds.core.GeneratorBasedBuilder):
    """UCI handwritten digits (scikit-learn's copy), as 28x28x1 images."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Initial release."}

    def _info(self):
        # DatasetInfo directly, not dataset_info_from_configs: that one reads metadata
        # files from the package folder, which an editable install maps elsewhere.
        return tfds.core.DatasetInfo(
            builder=self,
            description="UCI handwritten digits (scikit-learn's copy), resized to 28x28x1.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(IMAGE_SIZE, IMAGE_SIZE, 1)),
                    "label": tfds.features.ClassLabel(names=[str(d) for d in range(10)]),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits",
        )

    def _split_generators(self, dl_manager):
        from sklearn.model_selection import train_test_split

        images, labels = digits_arrays()
        train_idx, test_idx = train_test_split(
            np.arange(len(labels)), test_size=TEST_FRACTION, stratify=labels, random_state=SPLIT_SEED
        )
        return {
            "train": self._generate_examples(images, labels, train_idx),
            "test": self._generate_examples(images, labels, test_idx),
        }

    def _generate_examples(self, images, labels, indices):
        for i in indices:
            yield int(i), {"image": images[i], "label": int(labels[i])}
