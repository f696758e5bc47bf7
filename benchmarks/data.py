"""The benchmarks' dataset: deterministic generated 28x28x1 images, as a TFDS dataset and as
an ingest artifact made from it by the ingest component.

    images   10 classes; class k is a fixed random 28x28 pattern (numpy default_rng(seed)),
             blurred, plus per-image noise and a random shift of up to 2 pixels; uint8
    splits   train: `--examples` (default 60,000), test: a sixth of that (10,000)
    TFDS     builder `distml_bench_images`, prepared once in <workdir>/tfds/n<examples>_s<seed>
             with 8 shards per split (so ReadConfig(input_context) can shard it)
    ingest   `distml.components.ingest.ingest("tfds:distml_bench_images", data_dir=that,
             download=False)` (the ingest component's TFDS source) with the default shard
             count (8) into <workdir>/datasets/n<examples>_s<seed>

Both are cached in the work folder and reused while their parameters stay the same.
"""

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from benchmarks.common import workdir

NAME = "distml_bench_images"
NUM_CLASSES = 10
SHAPE = (28, 28, 1)
TFDS_SHARDS = 8
log = logging.getLogger("distml.bench")


def config_name(examples, seed):
    return f"n{examples}_s{seed}"


def generate(n, seed, offset=0):
    """(images uint8 [n,28,28,1], labels int64 [n]); example i depends only on (seed, offset + i)."""
    proto_rng = np.random.default_rng(seed)
    protos = proto_rng.uniform(0, 255, size=(NUM_CLASSES, 32, 32)).astype(np.float32)
    # 3x3 box blur so the classes have learnable structure
    protos = sum(np.roll(np.roll(protos, dy, 1), dx, 2) for dy in (-1, 0, 1) for dx in (-1, 0, 1)) / 9.0
    rng = np.random.default_rng([seed, offset])
    labels = rng.integers(0, NUM_CLASSES, size=n)
    shifts = rng.integers(0, 5, size=(n, 2))
    noise = rng.normal(0, 40, size=(n, 28, 28)).astype(np.float32)
    images = np.empty((n, 28, 28), np.float32)
    for i in range(n):
        y, x = shifts[i]
        images[i] = protos[labels[i], y : y + 28, x : x + 28]
    images = np.clip(images + noise, 0, 255).astype(np.uint8)
    return images[..., None], labels.astype(np.int64)


_PARAMS = {"examples": 60_000, "seed": 0}  # what the builder generates; set by `builder()`
_CLASS = None


def _builder_class():
    import tensorflow_datasets as tfds

    class DistmlBenchImages(tfds.core.GeneratorBasedBuilder):
        """Deterministic generated 28x28x1 images in 10 classes (distml benchmarks).

        One builder name for every size: each (examples, seed) gets its own data_dir.
        """

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                description="Deterministic generated 28x28x1 images (distml benchmarks).",
                features=tfds.features.FeaturesDict(
                    {
                        "image": tfds.features.Image(shape=SHAPE),
                        "label": tfds.features.ClassLabel(names=[str(k) for k in range(NUM_CLASSES)]),
                    }
                ),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager):
            n, seed = _PARAMS["examples"], _PARAMS["seed"]
            return {
                "train": self._generate_examples(n, seed, 0),
                "test": self._generate_examples(max(n // 6, TFDS_SHARDS), seed, 1),
            }

        def _generate_examples(self, n, seed, split_id):
            chunk = 10_000
            for start in range(0, n, chunk):
                images, labels = generate(min(chunk, n - start), seed, offset=split_id * 10**9 + start)
                for j in range(len(labels)):
                    yield start + j, {"image": images[j], "label": int(labels[j])}

    return DistmlBenchImages


def tfds_data_dir(examples, seed, root):
    return Path(root) / "tfds" / config_name(examples, seed)


def builder(examples, seed, root):
    """The TFDS builder for this size and seed (registered as NAME in this process)."""
    global _CLASS
    if _CLASS is None:
        _CLASS = _builder_class()
    _PARAMS.update(examples=examples, seed=seed)
    return _CLASS(data_dir=str(tfds_data_dir(examples, seed, root)))


def prepare(examples=60_000, seed=0, root=None):
    """Prepare the TFDS dataset and the ingest artifact (cached). Returns a dict of paths and timings."""
    import tensorflow_datasets as tfds

    from distml.components.ingest.core import ingest

    root = workdir(root)
    tfds_dir = tfds_data_dir(examples, seed, root)
    b = builder(examples, seed, root)
    timings = {}
    if not b.is_prepared():
        started = time.monotonic()
        b.download_and_prepare(download_config=tfds.download.DownloadConfig(num_shards=TFDS_SHARDS))
        timings["tfds_prepare_s"] = time.monotonic() - started
    artifact = root / "datasets" / config_name(examples, seed)
    started = time.monotonic()
    # The ingest component's tfds: source reads the prepared builder (registered above); no download.
    metadata = ingest(f"tfds:{NAME}", artifact, data_dir=str(tfds_dir), download=False, seed=seed)
    timings["ingest_s"] = time.monotonic() - started
    return {"tfds_name": NAME, "tfds_dir": tfds_dir, "artifact": artifact, "metadata": metadata, "timings": timings}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    info = prepare(args.examples, args.seed, args.workdir)
    print(f"TFDS {info['tfds_name']} in {info['tfds_dir']}; ingest artifact {info['artifact']}; {info['timings']}")


if __name__ == "__main__":
    main()
