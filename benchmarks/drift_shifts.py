"""Traffic for the drift benchmark and the monitor's demonstration test: in-distribution
samples of a dataset split, and the same under a shift of chosen severity, sent through a
model and written with the real request-log writer."""

import numpy as np

SHIFTS = {
    # severity 0 = no shift in every family
    "invert": "pixels blended toward their negative: (1 - s) * x + s * (255 - x), s in [0, 1]",
    "rotate": "images rotated by s degrees",
    "imbalance": "a share s of the traffic replaced by images of class 0 (class 0 is then ~s + (1-s)/K of it)",
    "darken": "pixel intensities scaled by (1 - s)",
}


def load_split(dataset_dir, split):
    """(images uint8 [N,H,W,C], labels [N]) of a whole split, in the artifact's order."""
    from distml.components.ingest.reader import read_split

    images, labels = [], []
    for x, y in read_split(dataset_dir, split, batch_size=512, shuffle=False):
        images.append(x.numpy())
        labels.append(y.numpy())
    return np.concatenate(images), np.concatenate(labels)


def shifted_sample(images, labels, n, rng, shift=None, severity=0.0):
    """n images drawn with replacement from (images, labels), shifted; float32 0-255."""
    if shift == "imbalance":
        from_class = rng.random(n) < severity
        pool0 = np.flatnonzero(labels == 0)
        index = np.where(from_class, rng.choice(pool0, n), rng.integers(0, len(images), n))
    else:
        index = rng.integers(0, len(images), n)
    x = images[index].astype(np.float32)
    if shift in (None, "imbalance") or severity == 0:
        return x
    if shift == "invert":
        return (1 - severity) * x + severity * (255.0 - x)
    if shift == "darken":
        return x * (1 - severity)
    if shift == "rotate":
        from scipy import ndimage

        return np.clip(
            ndimage.rotate(x, severity, axes=(1, 2), reshape=False, order=1, mode="constant", cval=0.0), 0, 255
        )
    raise ValueError(f"unknown shift {shift!r} (known: {', '.join(SHIFTS)})")


def serve_to_log(model, images, request_log, batch=8, model_version="1"):
    """Predict `images` in requests of `batch` and record each request as the server would."""
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        probabilities, class_ids = model.predict(chunk)
        request_log.record(chunk, probabilities, class_ids, model_version=model_version)
