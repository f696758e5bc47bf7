"""Package list only: components/ and pipelines/ install as distml.components and
distml.pipelines (the package-dir mapping in pyproject.toml), so their sub-packages are
found here and renamed under distml."""

from setuptools import find_packages, setup

packages = ["distml"] + [
    f"distml.{name}" for name in find_packages(include=["components", "components.*", "pipelines", "pipelines.*"])
]
setup(packages=packages)
