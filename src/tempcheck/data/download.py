"""Opt-in downloads (``--download``): fetch an archive, check its published MD5, extract it
without letting a member escape the target folder.

Nothing here runs unless the user asked for a download (DESIGN.md, "Untrusted files").
Every step writes to a temporary name first, so an interrupted download or extraction leaves no
half-written dataset behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path, PurePosixPath

from ..errors import DataError

_CHUNK = 1 << 20


def _open_url(url: str, timeout: float):
    """The network boundary (tests replace it with a local file)."""
    return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - https URL constants


def md5sum(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(url: str, dest: str | Path, *, md5: str, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` unless a file with the right MD5 is already there.

    The bytes go to a temporary file beside ``dest`` and are renamed into place only after the
    checksum matches; a mismatch or a network error is a :class:`DataError` and leaves nothing.
    """
    dest = Path(dest)
    if dest.is_file() and md5sum(dest) == md5:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    digest = hashlib.md5()
    try:
        with os.fdopen(fd, "wb") as out, _open_url(url, timeout) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != md5:
            raise DataError(
                f"download of {url} has MD5 {digest.hexdigest()}, expected {md5} "
                "(corrupt or changed file; nothing was kept)"
            )
        os.replace(tmp, dest)
    except OSError as exc:
        raise DataError(f"cannot download {url}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _check_member(member: tarfile.TarInfo, archive: Path) -> None:
    """Refuse absolute paths, ``..`` components, links and special files."""
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or member.name.startswith(("/", "\\")):
        raise DataError(f"{archive}: refused member {member.name!r} (path leaves the folder)")
    if not (member.isfile() or member.isdir()):
        raise DataError(f"{archive}: refused member {member.name!r} (links and devices)")


def safe_extract(archive: str | Path, dest: str | Path) -> list[Path]:
    """Extract a tar archive into ``dest``; return the top-level paths it created.

    Every member is checked before anything is written (:func:`_check_member`); extraction goes
    to a temporary folder inside ``dest`` and each top-level entry is renamed into place, so a
    failure leaves ``dest`` as it was. Existing top-level entries are replaced.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        tar = tarfile.open(archive, "r:*")
    except (OSError, tarfile.TarError) as exc:
        raise DataError(f"cannot open archive {archive}: {exc}") from None
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest))
    try:
        with tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member, archive)
            kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(staging, members=members, **kwargs)
        created = []
        for entry in sorted(staging.iterdir()):
            target = dest / entry.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            os.replace(entry, target)
            created.append(target)
        return created
    except (OSError, tarfile.TarError) as exc:
        raise DataError(f"cannot extract {archive}: {exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
