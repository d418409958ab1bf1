"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images of 0-9; no download), upsampled."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from nas.data.base import ImageData


def load_digits_data(resolution: int = 32) -> ImageData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1)  # N x 1 x 8 x 8, values 0..16
    x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    x = (x.clamp(0, 16) * (255.0 / 16.0)).round().to(torch.uint8).expand(-1, 3, -1, -1).contiguous()
    mean = float(x.float().mean() / 255)
    std = float(x.float().std() / 255)
    return ImageData(x, torch.tensor(d.target, dtype=torch.long), 10, (mean,) * 3, (std,) * 3, "digits")
