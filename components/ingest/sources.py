"""Where examples come from: `tfds:NAME[:VERSION]`, `digits` (offline) and `folder:PATH`.

A source knows its identity (what determines its content, for the fingerprint), its
class names and image shape, and yields (image uint8 HxWxC, label int) per split.
"""

import collections
import dataclasses
import hashlib
import logging
import socket
from pathlib import Path

from distml.components.common.errors import UsageError
from distml.components.common.preprocessing import preprocess, preprocessing_params
from distml.components.ingest.dataset_version import DIGITS_BUILDER, IMAGE_SUFFIXES, dataset_version

log = logging.getLogger("distml")

DEFAULT_DATASET = "digits"
CLUSTER_DATASET = "tfds:fashion_mnist"
TFDS_DOWNLOAD_HOST = "storage.googleapis.com"


@dataclasses.dataclass
class Source:
    spec: str
    identity: dict
    class_names: list
    image_shape: tuple
    split_sizes: dict  # split -> number of examples
    _examples: object  # callable(split) -> iterator of (image, label)

    def examples(self, split):
        return self._examples(split)

    @property
    def preprocessing(self):
        """What `preprocess` does to every source image (recorded with the data and the model)."""
        return preprocessing_params(self.image_shape)


def open_source(
    spec,
    *,
    data_dir=None,
    download=True,
    image_size=None,
    channels=None,
    test_fraction=0.2,
    seed=0,
    allow_empty_classes=False,
):
    """Resolve a dataset spec into a Source, failing fast with a one-line error."""
    if spec == "digits":
        return _tfds_source(DIGITS_BUILDER, None, spec, data_dir=data_dir, download=True, image_size=image_size)
    if spec.startswith("tfds:"):
        name, _, version = spec[len("tfds:") :].partition(":")
        if not name:
            raise UsageError(f"bad dataset {spec!r}: expected tfds:NAME[:VERSION]")
        return _tfds_source(name, version or None, spec, data_dir=data_dir, download=download, image_size=image_size)
    if spec.startswith("folder:"):
        return _folder_source(
            Path(spec[len("folder:") :]), spec, image_size, channels, test_fraction, seed, allow_empty_classes
        )
    raise UsageError(f"unknown dataset {spec!r}: use digits, tfds:NAME[:VERSION] or folder:PATH")


def resolved_dataset_version(spec, data_dir=None):
    """`dataset_version(spec)` with a TFDS dataset's version resolved by the installed TFDS
    (its registered code: no download, no network); a folder's needs no TensorFlow."""
    if spec == "digits":
        name, version = DIGITS_BUILDER, ""
    elif spec.startswith("tfds:"):
        name, _, version = spec[len("tfds:") :].partition(":")
    else:
        return dataset_version(spec)
    if not name:
        raise UsageError(f"bad dataset {spec!r}: expected tfds:NAME[:VERSION]")
    return dataset_version(spec, tfds_version=str(_tfds_builder(name, version or None, spec, data_dir).version))


def _tfds_builder(name, version, spec, data_dir):
    import tensorflow_datasets as tfds

    if name == DIGITS_BUILDER:
        from distml.components.ingest import digits_builder  # registers the builder

        return digits_builder.DistmlDigits(data_dir=data_dir)
    try:
        return tfds.builder(f"{name}:{version}" if version else name, data_dir=data_dir)
    except (tfds.core.registered.DatasetNotFoundError, ValueError, AssertionError) as e:
        raise UsageError(f"unknown dataset {spec!r}: {str(e).splitlines()[0]}") from None


def _tfds_source(name, version, spec, *, data_dir, download, image_size):
    import tensorflow_datasets as tfds

    builder = _tfds_builder(name, version, spec, data_dir)
    # TFDS warns "Variant folder ... has no dataset_info.json" even when the folder does not exist.
    if not (builder.data_path.is_dir() and builder.is_prepared()):
        if not download:
            raise UsageError(
                f"{spec} is not prepared in --data-dir {builder.data_dir_root} (no {builder.data_path}) and "
                f"--no-download is set; prepare it there first or use the offline dataset: --dataset digits"
            )
        if name != DIGITS_BUILDER:
            _require_network(spec)
        log.info("preparing %s in %s", spec, builder.data_dir)
        builder.download_and_prepare()
    info = builder.info
    image_key, label_key = info.supervised_keys or ("image", "label")
    label_feature = info.features[label_key]
    shape = tuple(info.features[image_key].shape)
    if image_size:
        shape = (*image_size, shape[-1])
    elif None in shape:
        raise UsageError(f"{spec} has images of varying size; pass --image-size HxW")

    params = preprocessing_params(shape)

    def examples(split):
        for ex in tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False)):
            image = ex[image_key]
            yield (image if tuple(image.shape) == shape else preprocess(image, params)), int(ex[label_key])

    return Source(
        spec=spec,
        identity={"kind": "tfds", "name": builder.name, "version": str(builder.version)},
        class_names=list(label_feature.names),
        image_shape=shape,
        split_sizes={s: info.splits[s].num_examples for s in ("train", "test") if s in info.splits},
        _examples=examples,
    )


def _require_network(spec):
    """TFDS retries DNS for minutes without a network; find out in seconds instead. A usage
    error (exit 2): no retry reaches a host this machine cannot reach, other arguments do."""
    try:
        socket.create_connection((TFDS_DOWNLOAD_HOST, 443), timeout=5).close()
    except OSError as e:
        raise UsageError(
            f"cannot download {spec}: {TFDS_DOWNLOAD_HOST} is unreachable ({e.strerror or e}); "
            f"pass --data-dir with the dataset already prepared, or use the offline dataset: --dataset digits"
        ) from None


def _folder_source(root, spec, image_size, channels, test_fraction, seed, allow_empty_classes=False):
    if not root.is_dir():
        raise UsageError(f"dataset folder {root} does not exist")
    split_roots = {"train": root / "train", "test": root / "test"}
    presplit = all(p.is_dir() for p in split_roots.values())
    class_root = split_roots["train"] if presplit else root
    class_names = sorted(p.name for p in class_root.iterdir() if p.is_dir())
    if not class_names:
        raise UsageError(f"dataset folder {root} has no class subfolders (expected {root}/<class>/*.png)")
    if presplit:
        extra = sorted({p.name for p in split_roots["test"].iterdir() if p.is_dir()} - set(class_names))
        if extra:
            raise UsageError(
                f"dataset folder {split_roots['test']} has class folders that {split_roots['train']} lacks: "
                f"{', '.join(extra)} (the classes are train's)"
            )

    def files_of(folder):
        return [
            (f, label)
            for label, name in enumerate(class_names)
            for f in sorted((folder / name).glob("*"))
            if f.suffix.lower() in IMAGE_SUFFIXES
        ]

    if presplit:
        split_files = {split: files_of(folder) for split, folder in split_roots.items()}
    else:
        if not 0 < test_fraction < 1:
            raise UsageError(f"--test-fraction must be between 0 and 1, got {test_fraction}")
        split_files = {"train": [], "test": []}
        for f, label in files_of(root):
            split_files[_assign_split(f.relative_to(root), test_fraction, seed)].append((f, label))
    for split, files in split_files.items():
        if not files:
            raise UsageError(f"dataset folder {root} has no PNG/JPEG images for split {split}")
    _check_classes(root, class_names, split_files, allow_empty_classes)

    height, width = image_size or (28, 28)
    shape = (height, width, channels or 1)
    params = preprocessing_params(shape)

    def examples(split):
        from PIL import Image, UnidentifiedImageError

        announced = False
        for f, label in split_files[split]:
            try:
                with Image.open(f) as img:
                    if img.size != (width, height) and not announced:
                        announced = True
                        log.info(
                            "resizing %s images (%dx%d, e.g. %s) to %dx%d, %s; the model records this and "
                            "serving does the same to a client's image",
                            split,
                            *img.size,
                            f.name,
                            width,
                            height,
                            "grayscale" if shape[-1] == 1 else "RGB",
                        )
                    arr = preprocess(img, params)
            except (UnidentifiedImageError, OSError) as e:
                raise UsageError(f"cannot read image {f}: {e}") from None
            yield arr, label

    content = hashlib.sha256()
    for split in ("train", "test"):
        for f, label in split_files[split]:
            content.update(f"{split}/{label}/{f.relative_to(root)}\0".encode())
            content.update(hashlib.sha256(f.read_bytes()).digest())
    return Source(
        spec=spec,
        identity={
            "kind": "folder",
            "content_sha256": content.hexdigest(),
            "test_fraction": None if presplit else test_fraction,
        },
        class_names=class_names,
        image_shape=shape,
        split_sizes={split: len(files) for split, files in split_files.items()},
        _examples=examples,
    )


def _check_classes(root, class_names, split_files, allow_empty_classes):
    """An empty class is an error (a warning with allow_empty_classes); a split that lacks
    some classes is reported."""
    counts = {split: collections.Counter(label for _, label in files) for split, files in split_files.items()}
    empty = [name for label, name in enumerate(class_names) if not any(c[label] for c in counts.values())]
    if empty:
        message = (
            f"dataset folder {root}: class(es) {', '.join(empty)} have no PNG/JPEG images "
            f"(a class no example can teach)"
        )
        if not allow_empty_classes:
            raise UsageError(message + "; remove the folder(s) or pass --allow-empty-classes")
        log.warning("%s; kept, as --allow-empty-classes asks", message)
    for split, counter in counts.items():
        missing = [name for label, name in enumerate(class_names) if not counter[label] and name not in empty]
        if missing:
            log.warning(
                "split %s of %s has no examples of class(es) %s: its metrics will not cover them",
                split,
                root,
                ", ".join(missing),
            )


def _assign_split(relative_path, fraction, seed):
    """Deterministic, order-independent split by hashing the file's path."""
    h = hashlib.sha256(f"{seed}:{relative_path}".encode()).digest()
    return "test" if int.from_bytes(h[:8], "big") / 2**64 < fraction else "train"
