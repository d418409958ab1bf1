"""Datasets for search and training: ``digits`` (bundled, default), ``cifar10``, ``cifar100``, ``imagefolder``.

``search_data(name, ...)`` returns the splits a search uses: the training set divided into a weight
part and an architecture part (FBNet: 80/20), plus a validation split (a search's is held out of the
training images: ``holdout_val``).
"""

from __future__ import annotations

from typing import Optional

from nas.data.base import BatchLoader, DataError, ImageData, SearchData, limit, resize, split
from nas.data.cifar import load_cifar
from nas.data.digits import load_digits_data
from nas.data.imagefolder import load_image_folder
from nas.registry import Registry

DATASETS = Registry("dataset")
DATASETS.register("digits", lambda root, resolution, download, url, md5: (load_digits_data(resolution), None),
                  augment=False)
DATASETS.register("cifar10", lambda root, resolution, download, url, md5: load_cifar("cifar10", root, download, url,
                                                                                      md5), augment=True)
DATASETS.register("cifar100", lambda root, resolution, download, url, md5: load_cifar("cifar100", root, download,
                                                                                       url, md5), augment=True)
DATASETS.register("imagefolder", lambda root, resolution, download, url, md5: (load_image_folder(root, resolution),
                                                                               None), augment=True)


def search_data(name: str, root: Optional[str] = None, *, resolution: int = 32, arch_fraction: float = 0.2,
                val_fraction: float = 0.2, limit_train: Optional[int] = None, limit_val: Optional[int] = None,
                download: bool = False, url: Optional[str] = None, md5: Optional[str] = None,
                seed: int = 0, holdout_val: bool = False) -> SearchData:
    """Load ``name`` and split it. Datasets without a test split hold out ``val_fraction`` for validation;
    datasets with one validate on it, or with ``holdout_val`` (a search, which picks archs by validation:
    it must not see the test images the found net is judged on) on ``limit_val`` training images held
    out (``val_fraction`` of them without a limit)."""
    if name not in DATASETS:
        raise DataError(DATASETS.unknown_message(name))
    if name != "digits" and not root:
        raise DataError(f"data.root: expected the directory of dataset '{name}', got none")
    train, test = DATASETS.get(name)(root, resolution, download, url, md5)
    if test is None:
        test, train = split(train, [val_fraction, 1 - val_fraction], seed)
    elif holdout_val:
        held = min(len(train) // 2, limit_val) / len(train) if limit_val else val_fraction
        test, train = split(train, [held, 1 - held], seed)
    train = limit(train, limit_train, seed)
    val = limit(test, limit_val, seed + 1)
    if train.images.shape[-1] != resolution:
        raise DataError(f"data '{name}': images are {train.images.shape[-1]}px, the search runs at {resolution}px")
    arch, weight = split(train, [arch_fraction, 1 - arch_fraction], seed + 2)
    return SearchData(weight, arch, val)

__all__ = ["BatchLoader", "DATASETS", "DataError", "ImageData", "SearchData", "load_cifar", "load_digits_data",
           "load_image_folder", "resize", "search_data", "split"]
