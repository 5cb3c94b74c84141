"""Tiny-ImageNet and ImageNet-style image folders (docs/theory.md §8).

Tiny-ImageNet (``tiny-imagenet-200``): 200 classes of 64 × 64 JPEGs; ``wnids.txt`` lists the
class ids, ``train/<wnid>/images/*.JPEG`` holds 500 training images per class and
``val/images/`` 50 per class, labelled by ``val/val_annotations.txt`` (tab-separated: file,
wnid, x, y, w, h). The official test images carry no labels, so — as is customary — Tiny's
validation set is the test split here and the validation split is carved from the training
images with ``split_seed`` (10 % by default).

Generic folders: ``root/<class>/<image>`` (searched recursively, hidden entries skipped), or
``root/train/<class>/…`` with ``root/val/…`` and/or ``root/test/…``. With only ``train`` and
one of ``val``/``test``, that one is the test split and validation is carved from train; with
both (and images in val/), they are the validation and test splits. A flat ``root/<class>``
tree is split into train / test with ``test_fraction``, then validation is carved from train.

Images are decoded once with Pillow (RGB) and cached as uint8 ``.npy`` (see
:mod:`tempcheck.data.image_cache`); they stay uint8 ``(N, 3, S, S)`` in memory, so this suits
datasets of up to a few hundred thousand small images, not full-size ImageNet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .base import DatasetSplits
from .image_cache import load_images, resolve_cache_dir
from .prepare import assemble_splits, carve_validation, parse_loader_options

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif", ".tiff"}
)
TINY_FOLDER = "tiny-imagenet-200"
TINY_URL = "http://cs231n.stanford.edu/tiny-imagenet-200.zip"


@dataclass(frozen=True)
class FolderOptions:
    """``data.options`` of the image-folder loaders.

    Attributes:
        image_size: side S of the square images the model sees; images of another size are
            resized (shorter side to S, bilinear) and centre-cropped. Default: 64 for
            Tiny-ImageNet; for generic folders the side of the first training image.
        val_size: training images held out for validation (default 10 % of train).
        test_fraction: flat ``root/<class>`` trees only: the share of images held out as test.
        cache_dir: where decoded arrays are cached (default ``<data_dir>/.tempcheck_cache``
            when writable, else no cache).
        cache: set false to always decode.
        workers: decoding threads (0: ``min(8, cpu_count)``).
    """

    image_size: int | None = None
    val_size: int | None = None
    test_fraction: float = 0.2
    cache_dir: str | None = None
    cache: bool = True
    workers: int = 0


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS


def _images_under(folder: Path) -> list[Path]:
    """Image files below ``folder``, recursively, sorted, skipping hidden entries."""
    found = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).parts
        if not any(part.startswith(".") for part in rel) and _is_image(path):
            found.append(path)
    return found


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _labelled_tree(
    folder: Path, classes: list[str] | None, *, allow_empty: bool
) -> tuple[list[Path], list[int], list[str]]:
    """Files and labels of ``folder/<class>/…``; ``classes`` fixes the label order (else the
    sorted folder names). An empty class folder is a DataError unless ``allow_empty``."""
    if not folder.is_dir():
        raise DataError(f"missing split folder {folder}")
    dirs = _class_dirs(folder)
    if not dirs:
        raise DataError(f"{folder} has no class folders (expected {folder}/<class>/<image>)")
    names = classes if classes is not None else [d.name for d in dirs]
    index = {name: i for i, name in enumerate(names)}
    paths, labels = [], []
    for d in dirs:
        if d.name not in index:
            raise DataError(f"{d}: class {d.name!r} does not occur in the training folder")
        files = _images_under(d)
        if not files and not allow_empty:
            raise DataError(f"class folder {d} holds no images")
        paths += files
        labels += [index[d.name]] * len(files)
    return paths, labels, names


def _decode(paths, labels, size, *, root, opts: FolderOptions, cache_dir, tag):
    x = load_images(paths, size, root=root, cache_dir=cache_dir, tag=tag, workers=opts.workers)
    return x, np.asarray(labels, dtype=np.int64)


def _cache_dir(root: Path, opts: FolderOptions) -> Path | None:
    return resolve_cache_dir(root, opts.cache_dir) if opts.cache else None


# -- Tiny-ImageNet ----------------------------------------------------------------------------
def find_tiny_root(data_dir: str | Path) -> Path | None:
    data_dir = Path(data_dir).expanduser()
    for candidate in (data_dir / TINY_FOLDER, data_dir):
        if (candidate / "wnids.txt").is_file():
            return candidate
    return None


def _read_wnids(path: Path) -> list[str]:
    try:
        wnids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    wnids = [w for w in wnids if w]
    if not wnids or len(set(wnids)) != len(wnids):
        raise DataError(f"{path} must list distinct class ids, one a line")
    return sorted(wnids)


def _read_val_annotations(root: Path, index: dict[str, int]) -> tuple[list[Path], list[int]]:
    path = root / "val" / "val_annotations.txt"
    if not path.is_file():
        raise DataError(f"missing Tiny-ImageNet validation labels {path}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    paths, labels = [], []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 2:
            raise DataError(f"{path}:{number}: expected 'file<TAB>wnid<TAB>x<TAB>y<TAB>w<TAB>h'")
        name, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in index:
            raise DataError(f"{path}:{number}: class {wnid!r} is not in wnids.txt")
        image = root / "val" / "images" / name
        if Path(name).name != name or not image.is_file():
            raise DataError(f"{path}:{number}: image {image} does not exist")
        paths.append(image)
        labels.append(index[wnid])
    if not paths:
        raise DataError(f"{path} lists no images")
    return paths, labels


def _tiny_descriptions(root: Path, wnids: list[str]) -> dict[str, str]:
    path = root / "words.txt"
    if not path.is_file():
        return {}
    wanted, out = set(wnids), {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        wnid, _, words = line.partition("\t")
        if wnid in wanted:
            out[wnid] = words.strip()
    return out


def load_tinyimagenet(
    *, data_dir: str | Path, split_seed: int = 0, download: bool = False, **options: object
) -> DatasetSplits:
    """Load Tiny-ImageNet (200 classes, 64 × 64) as uint8 :class:`DatasetSplits`.

    ``data_dir`` is ``tiny-imagenet-200`` or its parent. Options: :class:`FolderOptions`
    (``test_fraction`` is unused). Tiny-ImageNet is not downloaded by tempcheck."""
    opts = parse_loader_options(FolderOptions, dict(options), "tinyimagenet")
    root = find_tiny_root(data_dir)
    if root is None:
        hint = f"; tempcheck does not download it: get {TINY_URL} and unzip it" if download else ""
        raise DataError(
            f"Tiny-ImageNet not found in {data_dir} (expected {TINY_FOLDER}/wnids.txt){hint}"
        )
    size = opts.image_size or 64
    wnids = _read_wnids(root / "wnids.txt")
    index = {w: i for i, w in enumerate(wnids)}
    train_paths, train_labels = [], []
    for wnid in wnids:
        folder = root / "train" / wnid / "images"
        if not folder.is_dir():
            raise DataError(f"missing Tiny-ImageNet training folder {folder}")
        files = _images_under(folder)
        if not files:
            raise DataError(f"class folder {folder} holds no images")
        train_paths += files
        train_labels += [index[wnid]] * len(files)
    test_paths, test_labels = _read_val_annotations(root, index)
    cache_dir = _cache_dir(root, opts)
    train_x, train_y = _decode(
        train_paths, train_labels, size, root=root, opts=opts, cache_dir=cache_dir,
        tag="tinyimagenet-train",
    )
    test_x, test_y = _decode(
        test_paths, test_labels, size, root=root, opts=opts, cache_dir=cache_dir,
        tag="tinyimagenet-val",
    )
    return assemble_splits(
        "tinyimagenet", train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
        num_classes=len(wnids), class_names=wnids, split_seed=split_seed,
        val_size=opts.val_size,
        extra={"source": str(root), "descriptions": _tiny_descriptions(root, wnids)},
    )


# -- generic ImageNet-style folders ----------------------------------------------------------
def _first_side(paths: list[Path], root: Path) -> int:
    from PIL import Image

    try:
        with Image.open(paths[0]) as img:
            w, h = img.size
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"cannot read image {paths[0]}: {exc}") from None
    if w != h:
        raise DataError(
            f"{paths[0]} is {w}x{h}, not square: pass --data.options.image_size=N for {root}"
        )
    return w


def load_imagefolder(
    *, data_dir: str | Path, split_seed: int = 0, download: bool = False, **options: object
) -> DatasetSplits:
    """Load an ImageNet-style folder as uint8 :class:`DatasetSplits` (layouts: module doc).

    Class indices follow the sorted class-folder names of the training tree."""
    opts = parse_loader_options(FolderOptions, dict(options), "imagefolder")
    root = Path(data_dir).expanduser()
    if download:
        raise DataError("imagefolder cannot be downloaded: point --data.data_dir at a folder")
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    cache_dir = _cache_dir(root, opts)
    val = None
    if (root / "train").is_dir():
        layout = "split"
        train_paths, train_labels, classes = _labelled_tree(
            root / "train", None, allow_empty=False
        )
        held_out = [s for s in ("val", "test") if (root / s).is_dir()]
        if not held_out:
            raise DataError(f"missing split: {root} has train/ but neither val/ nor test/")
        test_name = "test" if "test" in held_out else "val"
        test_paths, test_labels, _ = _labelled_tree(root / test_name, classes, allow_empty=True)
        size = opts.image_size or _first_side(train_paths, root)
        if len(held_out) == 2:
            val_paths, val_labels, _ = _labelled_tree(root / "val", classes, allow_empty=True)
            if val_paths:  # an empty val/ falls back to carving from train
                val = _decode(val_paths, val_labels, size, root=root, opts=opts,
                              cache_dir=cache_dir, tag="imagefolder-val")
    else:
        layout = "flat"
        paths, labels, classes = _labelled_tree(root, None, allow_empty=False)
        if not 0.0 < opts.test_fraction < 1.0:
            raise ConfigError(
                f"data.options.test_fraction must be in (0, 1), got {opts.test_fraction}"
            )
        n_test = max(1, round(opts.test_fraction * len(paths)))
        tr, te = carve_validation(len(paths), n_test, [split_seed, 1])
        train_paths, train_labels = [paths[i] for i in tr], [labels[i] for i in tr]
        test_paths, test_labels = [paths[i] for i in te], [labels[i] for i in te]
        size = opts.image_size or _first_side(train_paths, root)
    train_x, train_y = _decode(train_paths, train_labels, size, root=root, opts=opts,
                               cache_dir=cache_dir, tag="imagefolder-train")
    test_x, test_y = _decode(test_paths, test_labels, size, root=root, opts=opts,
                             cache_dir=cache_dir, tag="imagefolder-test")
    return assemble_splits(
        "imagefolder", train_x=train_x, train_y=train_y, test_x=test_x, test_y=test_y,
        num_classes=len(classes), class_names=classes, split_seed=split_seed,
        val_size=opts.val_size, val=val, extra={"source": str(root), "layout": layout},
    )
