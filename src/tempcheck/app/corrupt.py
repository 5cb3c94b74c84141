"""``tempcheck corrupt``: write a corrupted copy of a dataset split in the CIFAR-10-C layout
(``<corruption>.npy`` + ``labels.npy``)."""

from __future__ import annotations

from pathlib import Path

from .. import atomic, recipe
from ..config import from_dict
from ..data.cifar_c import write_cifar_c_layout
from ..data.corruptions import choose_table, parse_table
from ..errors import ConfigError
from ..progress import ConsoleProgress
from . import EXIT_OK


def corrupt_command(*, out: str, dataset: str, data_dir: str | None, split: str,
                    corruptions: str, seed: int, device: str, table: str = "auto") -> int:
    out_dir = Path(out)
    atomic.check_writable_folder(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ConfigError(f"{out_dir} is not empty; choose a new --out (nothing was written)")
    parse_table(table)  # a bad --table fails before the data are loaded
    dev = recipe.resolve_device(device)
    data = recipe.load_data(from_dict({"data": {"name": dataset, "data_dir": data_dir}}))
    if data.kind != "image":
        raise ConfigError(f"corruptions need images; dataset {dataset} is {data.kind}")
    images = getattr(data, split)
    # "all" = every corruption defined for these images (saturate needs colour)
    names = None if corruptions == "all" else corruptions
    chosen = choose_table(*images.x.shape[-2:], table)
    print(chosen.note)
    paths = write_cifar_c_layout(images.x, images.y, out_dir, names, seed, device=dev,
                                 progress=ConsoleProgress(), profile=chosen.size)
    print(f"wrote {len(paths) - 1} corruptions x 5 severities of {len(images)} {split} "
          f"images ({dataset}) to {out_dir} with the {chosen.size} px table")
    return EXIT_OK
