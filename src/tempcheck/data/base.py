"""The in-memory dataset contract every loader returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Split:
    """One split: inputs ``x`` and integer labels ``y`` (N,).

    Images are ``(N, C, H, W)``, either float32 in [0, 1] or uint8 in [0, 255] (big datasets stay
    uint8 in memory and are converted per batch by :func:`as_float`). Text is ``(N, L)`` int64.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class DatasetSplits:
    """Train / validation / test splits plus what models need to know about the inputs."""

    name: str
    train: Split
    val: Split
    test: Split
    num_classes: int
    in_channels: int
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: list[str] = field(default_factory=list)
    kind: str = "image"  # "image" or "text"
    extra: dict = field(default_factory=dict)

    def to(self, device: torch.device | str) -> DatasetSplits:
        return DatasetSplits(
            self.name, self.train.to(device), self.val.to(device), self.test.to(device),
            self.num_classes, self.in_channels, self.image_size, self.mean, self.std,
            self.class_names, self.kind, self.extra,
        )

    def describe(self) -> dict:
        """What a run folder records about its data (sweep.json ``data``): sizes, input shape,
        class names and, for on-disk sources, the folder it was read from."""
        return {
            "name": self.name, "kind": self.kind, "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
            "input_shape": [int(d) for d in self.train.x.shape[1:]],
            "source": self.extra.get("source"),
        }

    def model_kwargs(self) -> dict:
        """Keyword arguments every model family of this kind accepts: classes, channels, image
        size and normalisation for images; classes plus the text data's own (vocabulary size,
        sequence length, padding id) for text."""
        if self.kind != "image":
            return dict(num_classes=self.num_classes, **self.extra.get("model_kwargs", {}))
        return dict(
            num_classes=self.num_classes, in_channels=self.in_channels,
            image_size=self.image_size, mean=self.mean, std=self.std,
        )


def as_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 images → float32 in [0, 1]; float images pass through."""
    if x.dtype == torch.uint8:
        return x.float().div_(255.0)
    return x
