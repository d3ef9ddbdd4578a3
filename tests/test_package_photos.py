"""helpers.package_photos: pinned photos read out of wheels, checked, decoded and cached; clear errors offline."""
import bz2
import hashlib
import io
import re
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import package_photos as P
from helpers.config import PROJECT_ROOT

WHEEL = "fake_pkg-1.0-py3-none-any.whl"


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def picture() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (6, 10, 3), dtype=np.uint8)


@pytest.fixture
def face() -> np.ndarray:
    return (np.arange(768 * 1024 * 3) % 251).astype(np.uint8).reshape(768, 1024, 3)  # scipy.misc.face()'s shape


@pytest.fixture
def wheels(tmp_path, picture, face) -> Path:
    folder = tmp_path / "wheels"
    folder.mkdir()
    with zipfile.ZipFile(folder / WHEEL, "w") as z:
        z.writestr("fake_pkg/pic.png", _png(picture))
        z.writestr("fake_pkg/face.dat", bz2.compress(face.tobytes()))
    return folder


def _source(wheels: Path, member: str, **kw) -> P.PackagePhoto:
    raw = zipfile.ZipFile(wheels / WHEEL).read(member)
    return P.PackagePhoto("fake-pkg==1.0", member, hashlib.sha256(raw).hexdigest(), **kw)


@pytest.fixture
def no_pip(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("pip must not run when the wheel is cached")
    monkeypatch.setattr(P.subprocess, "run", refuse)


def test_a_cached_wheel_gives_the_exact_pixels_without_pip(tmp_path, wheels, picture, face, no_pip):
    sources = {"pic": _source(wheels, "fake_pkg/pic.png"), "face": _source(wheels, "fake_pkg/face.dat", raw_face=True)}
    photos = P.package_photos(tmp_path / "out", wheels, sources)
    assert list(photos) == ["pic", "face"]
    assert photos["pic"].shape == (3, 6, 10) and photos["face"].shape == (3, 768, 1024)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "pic.png")), picture)
    got = np.asarray(Image.open(tmp_path / "out" / "face.png"))
    assert np.array_equal(got, face)  # row-major (H, W, 3): a transposed or mis-shaped decode fails here
    assert float(photos["pic"][1, 2, 3]) == pytest.approx(picture[2, 3, 1] / 255)


def test_a_built_photo_is_not_rebuilt_and_the_next_one_is_built(tmp_path, wheels, no_pip):
    root = tmp_path / "new" / "out"  # folders that do not exist yet
    pic = {"pic": _source(wheels, "fake_pkg/pic.png")}
    P.build_package_photos(root, wheels, pic)
    both = {**pic, "face": _source(wheels, "fake_pkg/face.dat", raw_face=True)}
    assert (P.build_package_photos(root, wheels, both) / "face.png").is_file()  # after one that exists
    (wheels / WHEEL).unlink()  # a third build must not need the wheel
    assert sorted(p.name for p in P.build_package_photos(root, wheels, both).iterdir()) == ["face.png", "pic.png"]


def test_wheels_are_cached_in_the_cache_folder_by_default(tmp_path, wheels, monkeypatch, no_pip):
    monkeypatch.setattr(P, "cache_dir", lambda: wheels.parent)
    assert P.package_photos(tmp_path / "out", sources={"pic": _source(wheels, "fake_pkg/pic.png")})["pic"].shape == (
        3, 6, 10)


def test_a_changed_file_is_refused(tmp_path, wheels, no_pip):
    source = P.PackagePhoto("fake-pkg==1.0", "fake_pkg/pic.png", "0" * 64)
    with pytest.raises(P.PhotoFetchError, match=r"^fake_pkg/pic.png in .* not the pinned 0{64}: delete the wheel "
                                                r"and fetch it again.$"):
        P.build_package_photos(tmp_path / "out", wheels, {"pic": source})
    assert not (tmp_path / "out" / "pic.png").exists()


def test_a_wheel_without_the_file_is_refused(tmp_path, wheels, no_pip):
    source = P.PackagePhoto("fake-pkg==1.0", "fake_pkg/gone.png", "0" * 64)
    with pytest.raises(P.PhotoFetchError, match=rf"^{WHEEL} has no fake_pkg/gone.png: not the pinned fake-pkg==1.0.$"):
        P.build_package_photos(tmp_path / "out", wheels, {"pic": source})


def _pip(monkeypatch, returncode: int, stderr: str = "", wheel: str | None = None) -> list:
    """pip replaced: answers ``returncode`` and ``stderr`` (text, captured) and writes ``wheel`` into --dest."""
    calls = []

    def run(command, **kwargs):
        assert kwargs == {"capture_output": True, "text": True}
        calls.append(command)
        if wheel:
            Path(command[command.index("--dest") + 1], wheel).write_bytes(b"")
        return subprocess.CompletedProcess(command, returncode, "", stderr)
    monkeypatch.setattr(P.subprocess, "run", run)
    return calls


def test_offline_the_error_names_the_command(tmp_path, monkeypatch):
    calls = _pip(monkeypatch, 1, "Looking in indexes\nERROR: No matching distribution found for scipy==1.9.3\n")
    photo = P.PACKAGE_PHOTOS["raccoon"]
    with pytest.raises(P.PhotoFetchError, match=r"^Could not fetch scipy==1.9.3 from the package index \(ERROR: No "
                                                r"matching distribution found for scipy==1.9.3\)\.") as err:
        P.wheel(photo, tmp_path)
    assert str(err.value).endswith("when online, run: " + " ".join(P.pip_command(photo, tmp_path)))
    assert calls == [P.pip_command(photo, tmp_path)]


def test_pip_that_writes_no_wheel_is_an_error_too(tmp_path, monkeypatch):
    _pip(monkeypatch, 0)
    with pytest.raises(P.PhotoFetchError, match=r"\(no wheel was written\)"):
        P.wheel(P.PACKAGE_PHOTOS["quokka"], tmp_path)


def test_pip_fetches_the_pinned_wheel_alone(tmp_path, monkeypatch):
    _pip(monkeypatch, 0, wheel="imgaug-0.4.0-py2.py3-none-any.whl")
    photo = P.PACKAGE_PHOTOS["quokka"]
    assert P.wheel(photo, tmp_path / "new" / "w").name == "imgaug-0.4.0-py2.py3-none-any.whl"
    command = P.pip_command(photo, tmp_path)
    assert command[1:] == ["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(tmp_path),
                           "imgaug==0.4.0"]


def test_the_sources_are_pinned_and_fetch_one_wheel_on_any_interpreter():
    assert set(P.PACKAGE_PHOTOS) == {"bus", "zidane", "quokka", "raccoon"}
    for photo in P.PACKAGE_PHOTOS.values():
        assert re.fullmatch(r"[\w-]+==[\d.]+", photo.requirement)
        package = photo.requirement.split("==")[0]  # the file lies inside its package: an image, or the raw face
        assert re.fullmatch(rf"{package}/[\w/]+\.(jpg|png)", photo.member) or (photo.raw_face and re.fullmatch(
            rf"{package}/\w+/face\.dat", photo.member))
        assert re.fullmatch(r"[0-9a-f]{64}", photo.sha256)
    binary = [p for p in P.PACKAGE_PHOTOS.values() if p.pip_args]  # a platform wheel: fixed, whatever runs pip
    assert [p.requirement for p in binary] == ["scipy==1.9.3"]  # the wheel whose face.dat has the pinned digest:
    assert binary[0].pip_args == ("--platform", "manylinux2014_x86_64", "--python-version", "3.11")
    assert P.PACKAGE_PHOTOS["raccoon"].raw_face and not P.PACKAGE_PHOTOS["bus"].raw_face


def test_the_wheel_prefix_follows_pep_427():
    assert P.PackagePhoto("fake-pkg==1.0", "m", "").wheel_prefix() == "fake_pkg-1.0-"


def test_the_photos_live_beside_the_sample_set():
    assert P.photos_dir() == PROJECT_ROOT / "data" / "package_photos"


def test_the_photos_are_ignored_by_git():
    assert "data/package_photos/" in (PROJECT_ROOT / ".gitignore").read_text().splitlines()
