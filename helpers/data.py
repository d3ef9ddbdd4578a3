"""Images in, aligned tensors out: the embedded sample data, the user's own folders, crops, and the
real datasets' download code. Knows nothing of models.

Convention at every boundary: RGB, ``(3, H, W)`` per image or ``(B, 3, H, W)`` per batch, float32 in ``[0, 1]``.

The **sample** dataset (the offline default) is built from natural colour photographs that installed
packages ship (scikit-image, scikit-learn, matplotlib), written once as PNGs to ``data/sample/`` and split
**by image**: no crop of a validation photo is ever seen in training.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from . import degrade
from .config import PROJECT_ROOT, cache_dir

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


# --------------------------------------------------------------------------- reading images
#: Images with more pixels than this are refused before they are decoded (Pillow's own decompression-bomb
#: limit is about 89 megapixels); ``$SRGAN_MAX_PIXELS`` (or ``python -m helpers.upscale --max-pixels``) changes it.
DEFAULT_MAX_PIXELS = 100_000_000


class ImageTooLarge(ValueError):
    """An image file with more pixels than the limit (:func:`max_image_pixels`); refused before decoding."""


def max_image_pixels() -> int:
    """The pixel limit for reading images: ``$SRGAN_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`."""
    value = os.environ.get("SRGAN_MAX_PIXELS")
    try:
        limit = int(value) if value else DEFAULT_MAX_PIXELS
    except ValueError:
        raise ValueError(f"$SRGAN_MAX_PIXELS={value!r} is not a whole number of pixels (e.g. 200000000).") from None
    if limit < 1:
        raise ValueError(f"$SRGAN_MAX_PIXELS={value!r} must be at least 1.")
    return limit


def to_tensor(array: np.ndarray) -> torch.Tensor:
    """``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)`` uint8 / uint16 / bool / float array -> ``(3, H, W)`` float32
    in ``[0, 1]``. Float values outside ``[0, 1]`` (or not finite) are refused, never clipped: their scale is
    unknown."""
    arr = np.asarray(array)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float32) / 65535
    else:
        arr = arr.astype(np.float32)
        if arr.size and not (np.isfinite(arr).all() and arr.min() >= 0 and arr.max() <= 1):
            raise ValueError(f"its values run from {arr.min():.4g} to {arr.max():.4g} (float data must be "
                             "finite and in [0, 1]; clipping would silently whiten or blacken it). Scale it to "
                             "[0, 1] first (e.g. divide by its maximum) or save it as an 8- or 16-bit PNG.")
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"Cannot make an RGB image from an array of shape {arr.shape}.")
    if arr.shape[2] == 4:  # composite over white, as a viewer shows it
        alpha = arr[..., 3:]
        arr = arr[..., :3] * alpha + (1 - alpha)
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).contiguous()


def _pil_to_array(img: Image.Image) -> np.ndarray:
    """Any Pillow mode -> uint8/uint16/float array that :func:`to_tensor` understands."""
    if img.mode.startswith("I"):  # 16-bit grayscale PNG / TIFF ("I;16*"), 32-bit integer TIFF ("I")
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ValueError(f"its integer values run from {arr.min()} to {arr.max()}, outside the 16-bit range "
                             "0-65535 this reader scales to [0, 1]. Save it as a 16-bit PNG.")
        return arr.astype(np.uint16)
    if img.mode == "F":
        return np.asarray(img, dtype=np.float32)
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:  # an alpha band, or a transparent colour
        return np.asarray(img.convert("RGBA"))
    return np.asarray(img.convert("RGB"))


def image_to_tensor(img: Image.Image, name: str = "the image") -> torch.Tensor:
    """A Pillow image (any mode) -> ``(3, H, W)`` float32 RGB in ``[0, 1]``; ``ValueError`` naming ``name`` for
    values that have no place in ``[0, 1]`` (floats outside it, integers beyond 16 bits)."""
    try:
        return to_tensor(_pil_to_array(img))
    except ValueError as err:
        raise ValueError(f"Cannot use {name}: {err}") from err


def _open(data: bytes, name: str, max_pixels: int | None) -> Image.Image:
    """Decode ``data`` after checking its size from the header against the pixel limit; turn it upright by
    its EXIF orientation tag (as a phone's viewer does)."""
    limit = max_pixels or max_image_pixels()
    pil_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # the limit below replaces Pillow's, so that it can be raised past Pillow's
    try:
        with Image.open(io.BytesIO(data)) as img:
            w, h = img.size
            if w * h > limit:
                raise ImageTooLarge(
                    f"{name} is {w}x{h} = {w * h / 1e6:.3g} megapixels, above the limit of {limit / 1e6:g} "
                    "megapixels (a guard against decompression bombs: a small file can hold a huge image). If you "
                    f"trust it, raise the limit: set SRGAN_MAX_PIXELS={w * h} in the environment (or pass "
                    f"--max-pixels {w * h} to python -m helpers.upscale); or downscale the image first.")
            img.load()
            return ImageOps.exif_transpose(img)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"Cannot read {name} as an image ({err}). The file is corrupt or not an image: "
                         "re-export it as PNG or JPEG.") from err
    finally:
        Image.MAX_IMAGE_PIXELS = pil_limit


def open_image(path: str | os.PathLike, max_pixels: int | None = None) -> Image.Image:
    """Read an image file as a decoded, upright Pillow image, refusing one above the pixel limit.

    ``max_pixels`` defaults to :func:`max_image_pixels`. A missing file raises ``FileNotFoundError``; an
    unreadable or too large one ``ValueError`` (:class:`ImageTooLarge`), each saying what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No image file at {path}: check the path (it is resolved from "
                                f"{Path.cwd()}) or give an absolute one.")
    return _open(path.read_bytes(), str(path), max_pixels)


def load_image(path: str | os.PathLike, max_pixels: int | None = None) -> torch.Tensor:
    """Read an image file as ``(3, H, W)`` float32 RGB in ``[0, 1]``, upright by its EXIF orientation.

    Grayscale is repeated to three channels, palette images are expanded, 16-bit images are scaled by
    1/65535, transparent images are composited over white; float images must hold values in ``[0, 1]``.
    Errors as :func:`open_image`.
    """
    return image_to_tensor(open_image(path, max_pixels), str(path))


def decode_image(data: bytes, name: str = "the upload", max_pixels: int | None = None) -> torch.Tensor:
    """Decode the bytes of an image file (an upload widget's content) like :func:`load_image` does.

    Returns ``(3, H, W)`` float32 RGB in ``[0, 1]``; bytes that are not an image, or an image above the pixel
    limit, raise ``ValueError`` naming ``name``.
    """
    return image_to_tensor(_open(data, name, max_pixels), name)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder``, sorted by name; a clear error if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No folder at {folder}.")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f"No images ({', '.join(IMAGE_EXTENSIONS)}) in {folder}.")
    return files


def load_folder(folder: str | os.PathLike) -> dict[str, torch.Tensor]:
    """All images of a folder as ``{file stem: (3, H, W) tensor}`` in name order."""
    return {p.stem: load_image(p) for p in list_images(folder)}


def to_pm1(img: torch.Tensor) -> torch.Tensor:
    """``[0, 1]`` -> ``[-1, 1]`` (``2x - 1``): the range a ``tanh`` generator reads and writes (notebooks 05-07)."""
    return img * 2 - 1


def from_pm1(img: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` -> ``[0, 1]`` (``(x + 1) / 2``), clamped: back to the series' image convention."""
    return ((img + 1) / 2).clamp(0, 1)


def save_image(img: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write ``(3, H, W)`` in ``[0, 1]`` as an 8-bit PNG (parent folders created); a write that fails (disk
    full) leaves no partial file and re-raises the ``OSError``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = img.detach().float().clamp(0, 1).mul(255).round_().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    try:
        Image.fromarray(np.ascontiguousarray(arr)).save(path)  # uint8 before numpy: 1 byte a value for large images
    except OSError:  # disk full, quota: a truncated PNG must not stay behind looking like a result
        path.unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- the sample dataset
def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        img = getattr(skimage.data, name)()
        return img[0] if isinstance(img, tuple) else img  # stereo_motorcycle -> left view
    return load


def _sklearn(index: int) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        from sklearn.datasets import load_sample_images

        return load_sample_images().images[index]
    return load


def _grace_hopper() -> np.ndarray:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        return np.asarray(Image.open(f).convert("RGB"))


# name -> (loader, split). Natural colour photographs only; the split is by image.
SAMPLE_SOURCES: dict[str, tuple[Callable[[], np.ndarray], str]] = {
    "astronaut": (_skimage("astronaut"), "train"),
    "rocket": (_skimage("rocket"), "train"),
    "motorcycle": (_skimage("stereo_motorcycle"), "train"),
    "immunohistochemistry": (_skimage("immunohistochemistry"), "train"),
    "hubble_deep_field": (_skimage("hubble_deep_field"), "train"),
    "china": (_sklearn(0), "train"),
    "flower": (_sklearn(1), "train"),
    "chelsea": (_skimage("chelsea"), "val"),
    "coffee": (_skimage("coffee"), "val"),
    "grace_hopper": (_grace_hopper, "val"),
}
SPLITS = ("train", "val")


def sample_dir() -> Path:
    """``data/sample`` in a project checkout, else the cache folder (a pip-installed ``helpers``)."""
    data = PROJECT_ROOT / "data"
    return data / "sample" if data.is_dir() else cache_dir() / "sample"


def build_sample_data(root: Path | None = None) -> Path:
    """Write the sample photographs as ``<root>/<split>/<name>.png`` (once); return ``root``."""
    root = Path(root or sample_dir())
    for name, (load, split) in SAMPLE_SOURCES.items():
        path = root / split / f"{name}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.png")
            Image.fromarray(np.asarray(load())).convert("RGB").save(tmp)
            tmp.replace(path)
    return root


def sample_images(split: str = "train", root: Path | None = None) -> dict[str, torch.Tensor]:
    """The sample photographs of one split as ``{name: (3, H, W)}`` in ``[0, 1]``, built on first use."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}: use 'train' or 'val'.")
    root = build_sample_data(root)
    return load_folder(root / split)


# --------------------------------------------------------------------------- crops and pairs
def mod_crop(img: torch.Tensor, scale: int) -> torch.Tensor:
    """Crop the bottom / right edge so that ``H`` and ``W`` are multiples of ``scale`` (the SR convention).

    An image smaller than ``scale`` on a side has nothing left and raises ``ValueError``."""
    h, w = img.shape[-2:]
    if h < scale or w < scale:
        raise ValueError(f"Image of {h}x{w} is smaller than the scale {scale}: no {scale}x{scale} block is left "
                         f"to make an LR pixel from. Use an image of at least {scale}x{scale} (far larger for "
                         "metrics).")
    return img[..., : h - h % scale, : w - w % scale]


def _check_crop(img: torch.Tensor, size: int, scale: int) -> None:
    if size % scale:
        raise ValueError(f"Crop size {size} is not divisible by scale {scale}: use a multiple of {scale}.")
    h, w = img.shape[-2:]
    if h < size or w < size:
        raise ValueError(f"Image of {h}x{w} is smaller than the crop {size}x{size}: use a smaller crop "
                         "or a larger image.")


def center_crop(img: torch.Tensor, size: int, scale: int = 1) -> torch.Tensor:
    """Central ``size x size`` crop of ``(..., H, W)``; ``size`` must divide by ``scale``."""
    _check_crop(img, size, scale)
    h, w = img.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return img[..., top:top + size, left:left + size]


def make_pair(hr: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(B, 3, H, W)`` HR -> ``(lr, hr)`` with ``lr = bicubic_down(hr, scale)``."""
    return degrade.bicubic_down(hr, scale), hr


def validation_pairs(images: dict[str, torch.Tensor], size: int, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed central crops of every image -> ``(lr (N, 3, size/s, size/s), hr (N, 3, size, size))``."""
    hr = torch.stack([center_crop(img, size, scale) for img in images.values()])
    return make_pair(hr, scale)


class RandomCrops:
    """Endless batches of random aligned HR crops (and their bicubic LR) from images held in memory.

    Each crop picks an image uniformly, then a position; with ``flip`` it is mirrored left-right with
    probability 1/2. Batches are ``(lr (B, 3, size/s, size/s), hr (B, 3, size, size))`` in ``[0, 1]``.
    """

    def __init__(self, images: dict[str, torch.Tensor] | list[torch.Tensor], size: int, scale: int,
                 batch_size: int, generator: torch.Generator, flip: bool = True):
        self.images = list(images.values()) if isinstance(images, dict) else list(images)
        if not self.images:
            raise ValueError("RandomCrops needs at least one image.")
        for img in self.images:
            _check_crop(img, size, scale)
        self.size, self.scale, self.batch_size = size, scale, batch_size
        self.generator, self.flip = generator, flip

    def _randint(self, high: int) -> int:
        return int(torch.randint(high, (1,), generator=self.generator))

    def crop(self) -> torch.Tensor:
        """One random ``(3, size, size)`` HR crop."""
        img = self.images[self._randint(len(self.images))]
        h, w = img.shape[-2:]
        top, left = self._randint(h - self.size + 1), self._randint(w - self.size + 1)
        patch = img[:, top:top + self.size, left:left + self.size]
        if self.flip and self._randint(2):
            patch = patch.flip(-1)
        return patch

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        return make_pair(torch.stack([self.crop() for _ in range(self.batch_size)]), self.scale)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self


# --------------------------------------------------------------------------- real datasets (online)
class DatasetUnavailable(RuntimeError):
    """A real dataset could not be downloaded and is not in place locally."""


#: Seconds a download may wait for the server (to connect, or for the next block) before it gives up.
DOWNLOAD_TIMEOUT_S = 60.0


class DownloadError(OSError):
    """A download that did not complete or whose SHA-256 differs; nothing was left in place."""


@contextlib.contextmanager
def download_timeout(seconds: float = DOWNLOAD_TIMEOUT_S) -> Iterator[None]:
    """Give sockets opened inside the block a timeout (for third-party download code that sets none, such as
    ``torch.hub``); the previous default is restored afterwards."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


def download(url: str, dest: Path, sha256: str | None = None, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest``: into ``<dest>.part`` first, renamed only once it is whole.

    Whole means: as long as the server's ``Content-Length`` says, and with the given ``sha256`` when one is
    known. Otherwise :class:`DownloadError` is raised and the ``.part`` file removed, so a partial file is never
    taken for a whole one. ``timeout`` bounds every wait on the server (``TimeoutError`` after it).
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    digest, size = hashlib.sha256(), 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as f:
            expected = response.headers.get("Content-Length")
            for block in iter(lambda: response.read(1 << 20), b""):
                f.write(block)
                digest.update(block)
                size += len(block)
        if expected is not None and size != int(expected):
            raise DownloadError(f"{url} stopped after {size} of {expected} bytes: try again.")
        if sha256 and digest.hexdigest() != sha256:
            raise DownloadError(f"{url} has SHA-256 {digest.hexdigest()}, expected {sha256}: the file is corrupt "
                                "or was changed on the server; try again, or report it if it persists.")
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    part.replace(dest)
    return dest


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, sha256: str | None) -> None:
    """Raise :class:`DownloadError` if ``path``'s SHA-256 is not ``sha256`` (nothing checked when ``None``)."""
    if sha256 and (got := sha256_file(path)) != sha256:
        raise DownloadError(f"{path} has SHA-256 {got}, expected {sha256}: it is incomplete or another file. "
                            "Delete it; it is downloaded again on the next run.")


# name -> (url, what the archive holds, SHA-256 or None). The archives' hosts publish no checksums, so none are
# recorded here (a download is still checked for completeness against its Content-Length); the files are
# checked for readability when used. Give a SHA-256 here when one becomes known.
DATA_HUB: dict[str, tuple[str, str, str | None]] = {
    "div2k_train_hr": ("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip", "DIV2K_train_HR/*.png", None),
    "div2k_valid_hr": ("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip", "DIV2K_valid_HR/*.png", None),
    "facades": ("https://efrosgans.eecs.berkeley.edu/pix2pix/datasets/facades.tar.gz",
                "facades/{train,val,test}/*.jpg (photo | label side by side)", None),
    "horse2zebra": ("https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/horse2zebra.zip",
                    "horse2zebra/{trainA,trainB,testA,testB}/*.jpg", None),
}
#: The super-resolution test sets papers report on (Set5: Bevilacqua et al. 2012; Set14: Zeyde et al. 2010;
#: BSD100: Martin et al. 2001; Urban100: Huang et al. 2015), HR images only, as the super-image project
#: republished them; ``python -m helpers.upscale --dataset NAME`` degrades them itself.
SR_BENCHMARKS = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100", "urban100": "Urban100"}
DATA_HUB.update({key: (f"https://huggingface.co/datasets/eugenesiow/{name}/resolve/main/data/{name}_HR.tar.gz",
                        f"{name}_HR/*.png", None) for key, name in SR_BENCHMARKS.items()})
TORCHVISION_DATASETS = ("mnist", "fashion_mnist", "flowers102")


def datasets_dir() -> Path:
    """Where real datasets are downloaded to or looked for: ``$SRGAN_DATA`` or ``<cache>/datasets``."""
    path = Path(os.environ.get("SRGAN_DATA") or cache_dir() / "datasets")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _offline_message(name: str, where: Path, err: Exception, archive: str | None = None) -> str:
    what = f"the file {archive} from {DATA_HUB[name][0]}" if archive else "it"
    return (f"The dataset {name!r} is not available: the download failed ({err}). Offline? Download {what} on a "
            f"machine with internet and place it under {where} (or point $SRGAN_DATA there); it is unpacked "
            "from there on the next run. The notebooks run on the embedded sample data by default.")


def fetch(name: str, root: Path | None = None) -> Path:
    """Download and unpack an archive of :data:`DATA_HUB` once; return the folder it was unpacked to.

    An already unpacked folder is used as it is. The download (:func:`download`) has a timeout, goes to a
    ``.part`` file renamed only when whole, and is checked against the SHA-256 where one is known (so is an
    archive placed by hand). Offline, raises :class:`DatasetUnavailable` at once with the place to put the files.
    """
    if name not in DATA_HUB:
        raise ValueError(f"Unknown dataset {name!r}: known are {', '.join(sorted(DATA_HUB))}.")
    url, _, sha256 = DATA_HUB[name]
    root = Path(root or datasets_dir()) / name
    done = root / ".unpacked"
    if done.exists():
        return root
    root.mkdir(parents=True, exist_ok=True)
    archive = root / url.rsplit("/", 1)[-1]
    try:
        if archive.exists():
            check_sha256(archive, sha256)
        else:
            download(url, archive, sha256)
    except (urllib.error.URLError, OSError) as err:  # DownloadError and TimeoutError are OSErrors
        raise DatasetUnavailable(_offline_message(name, root, err, archive.name)) from err
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(root)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(root, filter="data")
    done.touch()
    return root


def sr_benchmark_hr(name: str, root: Path | None = None) -> Path:
    """The folder of HR images of a super-resolution test set (``set5``, ``set14``, ``bsd100``, ``urban100``),
    downloaded once by :func:`fetch`; offline, :class:`DatasetUnavailable` says where to place the files."""
    key = name.lower()
    if key not in SR_BENCHMARKS:
        raise ValueError(f"Unknown test set {name!r}: use one of {', '.join(SR_BENCHMARKS)}.")
    return fetch(key, root) / f"{SR_BENCHMARKS[key]}_HR"


def torchvision_dataset(name: str, train: bool = True, root: Path | None = None):
    """MNIST, Fashion-MNIST or Flowers102 through torchvision's own download code (tensors in ``[0, 1]``).

    Offline and not already downloaded, raises :class:`DatasetUnavailable` with where to place the files.
    """
    import torchvision
    from torchvision.transforms import ToTensor

    root = Path(root or datasets_dir())
    kinds = {"mnist": torchvision.datasets.MNIST, "fashion_mnist": torchvision.datasets.FashionMNIST,
             "flowers102": torchvision.datasets.Flowers102}
    if name not in kinds:
        raise ValueError(f"Unknown torchvision dataset {name!r}: use one of {', '.join(kinds)}.")
    split = {"split": "train" if train else "test"} if name == "flowers102" else {"train": train}
    try:
        return kinds[name](root, download=True, transform=ToTensor(), **split)
    except (urllib.error.URLError, OSError, RuntimeError) as err:
        raise DatasetUnavailable(_offline_message(name, root, err)) from err


def digits(size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 handwritten digits (offline), upsampled from 8x8 to ``size x size``.

    Returns ``(images (N, 1, size, size) in [0, 1], labels (N,) int64)``.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16).unsqueeze(1)
    if size != 8:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x.clamp(0, 1), torch.from_numpy(d.target.astype(np.int64))
