"""In-memory image datasets, seeded batch loaders with tensor augmentation, and the search splits."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from nas.errors import NasError


class DataError(NasError):
    """A dataset that is missing, corrupt or misconfigured; the message names the path and key."""


@dataclass
class ImageData:
    """Images as uint8 ``N x C x H x W`` and integer labels."""

    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    mean: Tuple[float, ...]
    std: Tuple[float, ...]
    name: str = ""

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: torch.Tensor) -> "ImageData":
        return ImageData(self.images[index], self.labels[index], self.num_classes, self.mean, self.std, self.name)


@dataclass
class SearchData:
    """The splits a search uses: weights train on ``weight``, architecture steps on ``arch``."""

    weight: ImageData
    arch: ImageData
    val: ImageData

    @property
    def num_classes(self) -> int:
        return self.weight.num_classes

    @property
    def resolution(self) -> int:
        return self.weight.images.shape[-1]


def crop_flip_params(n: int, pad: int, generator: torch.Generator):
    """The random draws of :func:`random_crop_flip` for ``n`` images: row and column offsets, flips."""
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    return dy, dx, flip


def apply_crop_flip(x: torch.Tensor, pad: int, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Zero-pad ``x``, crop each image back at its offsets ``(dy, dx)``, flip those marked in ``flip``."""
    n, _, h, w = x.shape
    padded = F.pad(x, (pad, pad, pad, pad))
    rows = (dy[:, None] + torch.arange(h)[None, :])  # n x h
    cols = (dx[:, None] + torch.arange(w)[None, :])  # n x w
    out = padded[torch.arange(n)[:, None, None, None], torch.arange(x.shape[1])[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    out[flip] = out[flip].flip(-1)
    return out


def random_crop_flip(x: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Standard CIFAR augmentation on a batch: zero-pad, random crop back, random horizontal flip."""
    return apply_crop_flip(x, pad, *crop_flip_params(len(x), pad, generator))


class BatchLoader:
    """Seeded mini-batches from an :class:`ImageData`; the order depends only on (seed, epoch).

    ``shard(rank, world)`` gives a data-parallel process its share of every batch: rows
    ``[rank * n // world, (rank + 1) * n // world)`` of each batch of ``n``, with the augmentation the
    whole batch draws, so the shards of ``world`` processes make exactly this loader's batches."""

    def __init__(self, data: ImageData, batch_size: int, *, shuffle: bool = True, augment: bool = False,
                 seed: int = 0, drop_last: bool = False):
        if len(data) == 0:
            raise DataError(f"dataset '{data.name}': a split is empty (batch_size={batch_size})")
        self.data, self.batch_size, self.shuffle, self.augment = data, batch_size, shuffle, augment
        self.seed, self.drop_last, self.epoch = seed, drop_last, 0
        self.rank, self.world = 0, 1
        self.mean = torch.tensor(data.mean).view(1, -1, 1, 1)
        self.std = torch.tensor(data.std).view(1, -1, 1, 1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def shard(self, rank: int, world: int) -> "BatchLoader":
        """This loader as process ``rank`` of ``world`` sees it (a copy; see the class docstring). Training
        loaders (``drop_last``) need a batch size divisible by ``world``: equal shares of every batch."""
        if not 0 <= rank < world:
            raise DataError(f"BatchLoader.shard: rank {rank} of {world} processes")
        if self.drop_last and self.batch_size % world:
            raise DataError("config", "batch_size", f"a multiple of the number of processes ({world}): each "
                            "takes an equal share of every global batch", self.batch_size)
        view = copy.copy(self)
        view.rank, view.world = rank, world
        return view

    def __len__(self) -> int:
        n = len(self.data)
        return n // self.batch_size if self.drop_last and n >= self.batch_size else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        n = len(self.data)
        order = torch.randperm(n, generator=g) if self.shuffle else torch.arange(n)
        for i in range(len(self)):
            idx = order[i * self.batch_size:(i + 1) * self.batch_size]
            params = crop_flip_params(len(idx), 4, g) if self.augment else None  # drawn for the whole batch
            if self.world > 1:
                lo, hi = self.rank * len(idx) // self.world, (self.rank + 1) * len(idx) // self.world
                idx = idx[lo:hi]
                params = None if params is None else tuple(p[lo:hi] for p in params)
            x = self.data.images[idx].float().div_(255)
            if params is not None:
                x = apply_crop_flip(x, 4, *params)
            yield (x - self.mean) / self.std, self.data.labels[idx]


def resize(data: ImageData, resolution: int) -> ImageData:
    """``data`` at ``resolution`` px (area interpolation, e.g. CIFAR-10 at 16 px for CPU-sized experiments)."""
    if data.images.shape[-1] == resolution or len(data) == 0:
        return data
    x = F.interpolate(data.images.float(), size=(resolution, resolution), mode="area")
    return ImageData(x.round().clamp_(0, 255).to(torch.uint8), data.labels, data.num_classes, data.mean, data.std,
                     data.name)


def split(data: ImageData, fractions: Sequence[float], seed: int) -> Tuple[ImageData, ...]:
    """Disjoint random parts of ``data`` with the given fractions (the last takes the rest)."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))
    parts, start = [], 0
    for i, f in enumerate(fractions):
        end = len(data) if i == len(fractions) - 1 else start + int(round(f * len(data)))
        parts.append(data.subset(order[start:end]))
        start = end
    return tuple(parts)


def limit(data: ImageData, n: Optional[int], seed: int) -> ImageData:
    """A seeded random subset of ``n`` items (all when ``n`` is None or larger)."""
    if n is None or n >= len(data):
        return data
    return data.subset(torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n])
