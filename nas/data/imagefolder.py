"""A user's folder of class subfolders (``root/<class>/<image>``), resized and held in memory."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from nas.data.base import DataError, ImageData

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def load_image_folder(root: str | os.PathLike, resolution: int) -> ImageData:
    from PIL import Image

    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root={root}: not a directory (expected class subfolders of images)")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if len(classes) < 2:
        raise DataError(f"data.root={root}: expected at least 2 class subfolders, found {len(classes)}")
    images, labels = [], []
    for label, cls in enumerate(classes):
        for path in sorted((root / cls).rglob("*")):
            if path.suffix.lower() not in EXTENSIONS:
                continue
            try:
                with Image.open(path) as im:
                    im = im.convert("RGB").resize((resolution, resolution), Image.BILINEAR)
                    images.append(np.asarray(im, dtype=np.uint8).transpose(2, 0, 1))
            except OSError as err:
                raise DataError(f"{path}: not a readable image ({err})") from None
            labels.append(label)
    if not images:
        raise DataError(f"data.root={root}: no images with extensions {', '.join(EXTENSIONS)}")
    x = torch.from_numpy(np.stack(images))
    mean = tuple(float(v) for v in x.float().div(255).mean((0, 2, 3)))
    std = tuple(max(float(v), 1e-3) for v in x.float().div(255).std((0, 2, 3)))
    return ImageData(x, torch.tensor(labels), len(classes), mean, std, f"imagefolder:{root.name}")
