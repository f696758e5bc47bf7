"""The data-version step of the compiled pipelines: KFP caches ingest on its inputs, and
`dataset` stays the same text when the images of a folder dataset change, so on a cluster a
step computes the data's version where the data is (the datasets volume) and hands it to
ingest as `dataset_version`: new images, a new TFDS version -> a new cache key -> ingest runs
again. It is `distml run`'s computation (`resolved_dataset_version`, which `distml run`
does before starting the pipeline) and the one the Argo key step folds into its memoization
key (components/ingest/dataset_version.py). Never cached itself: its answer depends on the
volume, not on its inputs. The run's `dataset_version` parameter is kept as an extra label.
"""

from kfp import dsl

from distml.components.common import k8s


@dsl.component(base_image=k8s.IMAGE, install_kfp_package=False)
def data_version(dataset: str, tfds_data_dir: str, label: str) -> str:
    """The version of the data behind `dataset` as this step sees it, with `label` appended."""
    from distml.components.ingest.sources import resolved_dataset_version

    version = resolved_dataset_version(dataset, data_dir=tfds_data_dir or None)
    return f"{version}+{label}" if label else version


def data_version_task(dataset, tfds_data_dir, label, image):
    """The step, uncached, in the run's image; its output is ingest's `dataset_version`."""
    task = data_version(dataset=dataset, tfds_data_dir=tfds_data_dir, label=label)
    task.set_display_name("data version").set_container_image(image).set_caching_options(False)
    return task
