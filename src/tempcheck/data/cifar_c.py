"""Released corruption datasets on disk, and a writer of the CIFAR-10-C layout.

Layouts (as released by Hendrycks & Dietterich, ICLR 2019):

- **CIFAR-10-C / CIFAR-100-C**: ``<root>/<corruption>.npy``, uint8 ``(N, H, W, C)`` (released:
  ``(50000, 32, 32, 3)``), severities 1..5 stacked in order, so severity s is rows
  ``[(s-1) N/5, s N/5)``; ``<root>/labels.npy`` holds the N labels (the test labels repeated 5
  times; a single copy of N/5 labels is accepted too). Any N that is a positive multiple of 5
  is accepted (subsets, tests); C may be 1 for grey data written by :func:`write_cifar_c_layout`.
- **Tiny-ImageNet-C** (and ImageNet-C): ``<root>/<corruption>/<severity>/<wnid>/<image>``
  (JPEG in the release); labels are the index of the wnid in the sorted folder names, or in a
  given class list (e.g. the training set's, so labels agree with the model).

Every malformed layout raises a one-line :class:`DataError` naming the file or folder.
The writer :func:`write_cifar_c_layout` (for ``tempcheck corrupt``) corrupts a dataset with
``corruptions.iter_corrupted`` (same seeds as the corruption evaluation) and writes one
``<corruption>.npy`` per corruption plus ``labels.npy``, each to a temporary name first and then
renamed into place, so an interrupted run never leaves half a file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .base import Split
from .corruptions import CHUNK_SIZE, CORRUPTIONS, SEVERITIES, iter_corrupted, quantize_uint8
from .corruptions import resolve as resolve_corruptions
from .corruptions import supported as corruption_supported

LABELS_FILE = "labels.npy"
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png", ".bmp")


# ---------------------------------------------------------------------------------------------
# CIFAR-10-C / CIFAR-100-C
# ---------------------------------------------------------------------------------------------
def detect_layout(root: str | Path) -> str:
    """``"cifar"`` (``<corruption>.npy`` files) or ``"folders"`` (``<corruption>/<severity>/``)."""
    root = _existing_dir(root)
    if any((root / f"{name}.npy").is_file() for name in CORRUPTIONS):
        return "cifar"
    if any((root / name).is_dir() for name in CORRUPTIONS):
        return "folders"
    raise DataError(f"{root} holds neither <corruption>.npy files nor <corruption>/ folders")


def cifar_c_corruptions(root: str | Path) -> list[str]:
    """Corruptions with a ``<name>.npy`` in ``root``, in canonical order."""
    root = _existing_dir(root)
    return [name for name in CORRUPTIONS if (root / f"{name}.npy").is_file()]


def cifar_c_size(root: str | Path, corruption: str) -> int:
    """Images per severity in ``<root>/<corruption>.npy`` (validated)."""
    return _open_images(_existing_dir(root) / f"{corruption}.npy").shape[0] // 5


def load_cifar_c(root: str | Path, corruption: str, severity: int,
                 indices: Sequence[int] | None = None) -> Split:
    """Severity ``severity`` of ``<root>/<corruption>.npy`` as a :class:`Split`: x uint8
    ``(n, C, H, W)``, y int64 ``(n,)``. ``indices`` (into the N/5 images of one severity)
    selects a subset; the file is memory-mapped, so only those rows are read."""
    root = _existing_dir(root)
    if not 1 <= int(severity) <= 5:
        raise DataError(f"severity must be 1..5, got {severity!r}")
    images = _open_images(root / f"{corruption}.npy")
    per = images.shape[0] // 5
    labels = _open_labels(root / LABELS_FILE, images.shape[0])
    rows = np.arange(per) if indices is None else np.asarray(indices, dtype=np.int64)
    if rows.size and (rows.min() < 0 or rows.max() >= per):
        raise DataError(f"{root / f'{corruption}.npy'} has {per} images per severity; "
                        f"index {int(rows.max())} is out of range")
    rows = rows + (int(severity) - 1) * per
    x = torch.from_numpy(np.ascontiguousarray(images[rows]).transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(labels[rows % labels.shape[0]].astype(np.int64))
    return Split(x, y)


def _open_images(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"missing corruption file {path}")
    arr = _load_npy(path)
    if arr.dtype != np.uint8:
        raise DataError(f"{path}: expected uint8 images, got dtype {arr.dtype}")
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3):
        raise DataError(f"{path}: expected shape (N, H, W, 3), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[0] % 5:
        raise DataError(f"{path}: {arr.shape[0]} images is not a positive multiple of 5 "
                        "(5 severities stacked)")
    return arr


def _open_labels(path: Path, n_images: int) -> np.ndarray:
    if not path.is_file():
        raise DataError(f"missing labels file {path}")
    labels = _load_npy(path)
    if labels.ndim != 1 or labels.shape[0] not in (n_images, n_images // 5):
        raise DataError(f"{path}: expected shape ({n_images},) to match the images, "
                        f"got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{path}: expected integer labels, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise DataError(f"{path}: negative label {int(labels.min())}")
    return np.asarray(labels)


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def _existing_dir(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"corruption folder {root} does not exist")
    return root


# ---------------------------------------------------------------------------------------------
# Tiny-ImageNet-C / ImageNet-C folders
# ---------------------------------------------------------------------------------------------
def folder_corruptions(root: str | Path) -> list[str]:
    """Corruptions with a ``<root>/<name>/`` folder, in canonical order."""
    root = _existing_dir(root)
    return [name for name in CORRUPTIONS if (root / name).is_dir()]


def list_image_folder_c(root: str | Path, corruption: str, severity: int,
                        classes: Sequence[str] | None = None) -> tuple[list[Path], np.ndarray]:
    """Image paths of ``<root>/<corruption>/<severity>/<wnid>/*`` sorted by (class, file) and
    their labels: the index of the wnid in ``classes`` (default: the sorted folder names)."""
    folder = Path(root) / corruption / str(int(severity))
    if not folder.is_dir():
        raise DataError(f"missing severity folder {folder}")
    wnids = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if not wnids:
        raise DataError(f"{folder} has no class folders")
    order = list(classes) if classes else wnids
    index = {c: i for i, c in enumerate(order)}
    unknown = [w for w in wnids if w not in index]
    if unknown:
        raise DataError(f"{folder / unknown[0]}: class {unknown[0]!r} is not among the "
                        f"{len(order)} known classes")
    paths, labels = [], []
    for wnid in wnids:
        files = sorted(p for p in (folder / wnid).iterdir()
                       if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [index[wnid]] * len(files)
    if not paths:
        raise DataError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return paths, np.asarray(labels, dtype=np.int64)


def read_images(paths: Sequence[Path], *, channels: int = 3) -> torch.Tensor:
    """Decode images into uint8 ``(n, C, H, W)``; all must share one size."""
    from PIL import Image, UnidentifiedImageError

    mode = "RGB" if channels == 3 else "L"
    arrays, size = [], None
    for path in paths:
        try:
            with Image.open(path) as img:
                arr = np.asarray(img.convert(mode))
        except (OSError, UnidentifiedImageError) as exc:
            raise DataError(f"cannot read image {path}: {exc}") from None
        if size is None:
            size = arr.shape[:2]
        elif arr.shape[:2] != size:
            raise DataError(f"{path} is {arr.shape[1]}x{arr.shape[0]}, the others are "
                            f"{size[1]}x{size[0]}")
        arrays.append(arr if channels == 3 else arr[:, :, None])
    if not arrays:
        return torch.zeros(0, channels, 0, 0, dtype=torch.uint8)
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def load_image_folder_c(root: str | Path, corruption: str, severity: int, *,
                        classes: Sequence[str] | None = None,
                        indices: Sequence[int] | None = None, channels: int = 3) -> Split:
    """Tiny-ImageNet-C style folders as a :class:`Split` (x uint8 ``(n, C, H, W)``);
    ``indices`` select images of the sorted listing."""
    paths, labels = list_image_folder_c(root, corruption, severity, classes)
    if indices is not None:
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(paths)):
            raise DataError(f"{Path(root) / corruption / str(severity)} has {len(paths)} "
                            f"images; index {int(idx.max())} is out of range")
        paths, labels = [paths[i] for i in idx], labels[idx]
    return Split(read_images(paths, channels=channels), torch.from_numpy(labels))


# ---------------------------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------------------------
def write_cifar_c_layout(
    images: torch.Tensor | np.ndarray, labels: torch.Tensor | np.ndarray,
    out_dir: str | Path, corruptions: str | Sequence[str] | None = None, seed: int = 0, *,
    device: torch.device | str | None = None, progress=None, profile: int | None = None,
    pixel_scale: float | None = None,
) -> list[Path]:
    """Write a corrupted copy of ``images`` in the CIFAR-10-C layout.

    Args:
        images: ``(N, C, H, W)`` uint8, or float in [0, 1]; C in {1, 3}.
        labels: ``(N,)`` integer class labels.
        out_dir: created if missing.
        corruptions: names / ``"all"`` / ``"benchmark"`` / a family (default: every corruption
            defined for C channels); naming one that C does not support is a ConfigError.
        seed: corruption seed (``derive_seed`` per corruption, severity and chunk of
            ``CHUNK_SIZE`` images, exactly as the corruption evaluation).
        progress: a ``tempcheck.progress.Progress`` (optional).

    Returns:
        The written paths: one ``<corruption>.npy`` uint8 ``(5N, H, W, C)`` per corruption
        (pixels ``floor(255 y)``, as the released data), then ``labels.npy`` (uint8 when every
        label fits, else int64; the N labels repeated 5 times).
    """
    x = torch.as_tensor(images)
    y = np.asarray(torch.as_tensor(labels).cpu().numpy())
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise DataError(f"images must be (N, C, H, W) with C in (1, 3), got {tuple(x.shape)}")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"labels must be {x.shape[0]} integers, got {y.dtype} {y.shape}")
    n, c, h, w = x.shape
    explicit = corruptions is not None
    names = resolve_corruptions(corruptions if explicit else "all")
    unsupported = [name for name in names if not corruption_supported(name, c)]
    if explicit and unsupported:
        raise ConfigError(f"corruption {unsupported[0]} needs colour images; these have {c} "
                          "channel(s)")
    names = tuple(name for name in names if name not in unsupported)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    task = progress.task("corrupt", total=len(names) * len(SEVERITIES)) if progress else None
    try:
        for name in names:
            path = out / f"{name}.npy"
            _atomic_npy(path, (len(SEVERITIES) * n, h, w, c), lambda mm, name=name: _fill(
                mm, x, name, seed, device, profile, pixel_scale, task))
            written.append(path)
        dtype = np.uint8 if y.size == 0 or (y.min() >= 0 and y.max() < 256) else np.int64
        label_path = out / LABELS_FILE
        _atomic_npy(label_path, (len(SEVERITIES) * n,),
                    lambda mm: mm.__setitem__(slice(None), np.tile(y, len(SEVERITIES))), dtype)
        written.append(label_path)
    finally:
        if task is not None:
            task.close()
    return written


def _fill(mm: np.ndarray, x: torch.Tensor, name: str, seed: int, device, profile,
          pixel_scale, task) -> None:
    n = x.shape[0]
    for s in SEVERITIES:
        for lo, chunk in iter_corrupted(x, name, s, seed=seed, chunk_size=CHUNK_SIZE,
                                        device=device, profile=profile,
                                        pixel_scale=pixel_scale):
            rows = slice((s - 1) * n + lo, (s - 1) * n + lo + chunk.shape[0])
            mm[rows] = quantize_uint8(chunk).permute(0, 2, 3, 1).cpu().numpy()
        if task is not None:
            task.update(1, corruption=name, severity=s)


def _atomic_npy(path: Path, shape: tuple, fill, dtype=np.uint8) -> None:
    """Create ``path`` as a .npy of ``shape``/``dtype`` filled by ``fill(memmap)``: written to
    a temporary name in the same folder, then renamed over ``path``."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        fill(mm)
        mm.flush()
        del mm
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
