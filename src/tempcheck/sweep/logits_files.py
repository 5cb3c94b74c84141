"""Each member's test and validation logits, saved in the run folder for offline analysis.

``groups/<group>/logits/member-<k>.npz`` holds, for member k of the bank:

- ``logits`` (N_test, C) float32: the raw test logits z (not divided by τ), and ``labels``;
- ``val_logits`` (N_val, C) float32 and ``val_labels``: the validation split;
- ``temperature``: the τ the member was trained (and is scored) at, ``seed``.

That is the input format of ``tempcheck calibrate``, which fits temperature scaling on the
validation arrays — on raw logits, as the sweep's calibration evaluation does, so the T it finds
is the member's ``ts_temperature``. ``tempcheck calibrate RUN --temperature τ --member-seed S``
finds the file from the run folder's results.csv.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, RunFolderError


def member_logits_file(gdir: Path, k: int) -> Path:
    return Path(gdir) / "logits" / f"member-{k}.npz"


def save_member_logits(gdir: Path, model: torch.nn.Module, data, temperatures, seeds,
                       *, batch_size: int, device: torch.device) -> list[Path]:
    """Write ``logits/member-<k>.npz`` for every member of the (eval-mode) bank ``model``."""
    from ..atomic import atomic_write_npz
    from ..eval.base import predict

    test = predict(model, data.test.x, batch_size=batch_size, device=device).float().cpu()
    val = predict(model, data.val.x, batch_size=batch_size, device=device).float().cpu()
    paths = []
    for k, (tau, seed) in enumerate(zip(temperatures, seeds)):
        path = member_logits_file(gdir, k)
        atomic_write_npz(path, {
            "logits": test[:, k].numpy(), "labels": data.test.y.cpu().numpy(),
            "val_logits": val[:, k].numpy(), "val_labels": data.val.y.cpu().numpy(),
            "temperature": np.asarray(float(tau)), "seed": np.asarray(int(seed))})
        paths.append(path)
    return paths


def find_member_logits(run_dir: str | Path, *, temperature: float | None = None,
                       seed: int | None = None) -> Path:
    """The logits file of the one member of ``run_dir`` trained at ``temperature`` with
    ``seed`` (either may be omitted when it leaves one member); a clear error otherwise."""
    root = Path(run_dir)
    if not (root / "results.csv").is_file():
        raise RunFolderError(f"{root} has no results.csv; is it a finished tempcheck sweep?")
    with open(root / "results.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    pick = [r for r in rows
            if (temperature is None or math.isclose(float(r["temperature"]), temperature,
                                                    rel_tol=1e-6))
            and (seed is None or int(float(r["seed"])) == seed)]
    if len(pick) != 1:
        have = ", ".join(sorted({f"τ={float(r['temperature']):g}/seed {r['seed']}"
                                 for r in rows}))
        raise ConfigError(f"{len(pick)} members of {root} match (give --temperature and "
                          f"--member-seed to pick one of: {have})")
    path = member_logits_file(root / "groups" / pick[0]["group"], int(float(pick[0]["member"])))
    if not path.is_file():
        raise RunFolderError(f"{path} is missing (a sweep made before logits were saved: "
                             "`tempcheck sweep --resume` on it writes them)")
    return path
