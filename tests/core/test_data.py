"""Safe decoding, safe unzipping and the image sets, on real files built with Pillow and zipfile."""

from __future__ import annotations

import hashlib
import io
import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core import data
from core.errors import ArchiveError, DatasetError, ImageError, InputError
from core.preprocessing import MNIST, PreprocessSpec
from core.workspace import Workspace


def png(color: tuple[int, int, int] = (200, 30, 30), size: int = 16, *, mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (size, size), color if mode == "RGB" else None).save(buffer, "PNG")
    return buffer.getvalue()


def noisy_png(seed: int, size: int = 16) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def make_zip(path: Path, entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, payload in entries.items():
            archive.writestr(zipfile.ZipInfo(name), payload, compress_type=compression)
    return path


def pixel_hash(image: Image.Image) -> str:
    image = image.convert("RGB")
    return hashlib.sha256(f"{image.size}".encode() + image.tobytes()).hexdigest()


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "ws")


@pytest.fixture(scope="module")
def imagenet_names() -> list[str]:
    from torchvision.models import ResNet50_Weights

    return list(ResNet50_Weights.IMAGENET1K_V2.meta["categories"])


# zip archives ---------------------------------------------------------------------------------


def test_extract_zip_writes_generated_names_and_keeps_originals(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "ok.zip",
        {
            "a.PNG": png(),
            "sub/b.jpg": png(),
            "notes.txt": b"hi",
            "readme.md": b"#",
            "__MACOSX/._a.PNG": b"x",
            ".DS_Store": b"x",
            "Thumbs.db": b"x",
        },
    )
    members = data.extract_zip(archive, tmp_path / "out")
    assert [m.original for m in members] == ["a.PNG", "sub/b.jpg", "notes.txt"]
    assert [m.path.name for m in members] == ["000000.png", "000001.jpg", "000002"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["000000.png", "000001.jpg", "000002"]
    assert members[0].path.read_bytes() == png()


def test_load_zip_flat_is_unlabelled_and_extracted_once(tmp_path: Path, workspace: Workspace) -> None:
    archive = make_zip(tmp_path / "flat.zip", {f"img{i}.png": noisy_png(i) for i in range(3)})
    first = data.load_zip(archive, workspace=workspace)
    assert len(first) == 3
    assert not first.labelled
    assert [s.name for s in first] == ["img0.png", "img1.png", "img2.png"]
    assert first.samples[0].image().size == (16, 16)
    folders = list(workspace.uploads_dir.iterdir())
    assert len(folders) == 1
    assert (folders[0] / ".complete").is_file()
    marker_time = (folders[0] / ".complete").stat().st_mtime_ns
    again = data.load_zip(archive, workspace=workspace)
    assert (folders[0] / ".complete").stat().st_mtime_ns == marker_time
    assert again.fingerprint() == first.fingerprint()


def test_load_zip_class_folders_are_labels(tmp_path: Path, workspace: Workspace) -> None:
    archive = make_zip(
        tmp_path / "classes.zip",
        {"cat/1.png": noisy_png(1), "cat/2.png": noisy_png(2), "dog/3.png": noisy_png(3), "dog/x.txt": b""},
    )
    found = data.load_zip(archive, workspace=workspace)
    assert found.labelled
    assert [(s.name, s.label) for s in found] == [
        ("cat/1.png", "cat"),
        ("cat/2.png", "cat"),
        ("dog/3.png", "dog"),
    ]
    assert "2 classes" in found.description


def test_load_zip_unwraps_a_single_wrapping_folder(tmp_path: Path, workspace: Workspace) -> None:
    archive = make_zip(
        tmp_path / "wrapped.zip",
        {"photos/": b"", "photos/cat/1.png": noisy_png(1), "photos/dog/2.png": noisy_png(2)},
    )
    found = data.load_zip(archive, workspace=workspace)
    assert [s.label for s in found] == ["cat", "dog"]


def test_load_zip_uses_a_top_level_csv(tmp_path: Path, workspace: Workspace) -> None:
    archive = make_zip(
        tmp_path / "csv.zip",
        {
            "set/labels.csv": b"file,label\nimgs/a.png,tabby\nimgs/b.png,281\n",
            "set/imgs/a.png": noisy_png(1),
            "set/imgs/b.png": noisy_png(2),
        },
    )
    found = data.load_zip(archive, workspace=workspace)
    assert [(s.name, s.label) for s in found] == [("set/imgs/a.png", "tabby"), ("set/imgs/b.png", "281")]


def _lying_zip(path: Path) -> Path:
    """A deflated 2 MB entry whose local and central headers both declare 1,000 bytes."""
    raw = bytearray(make_zip(path, {"big.bmp": bytes(range(256)) * 8192}).read_bytes())
    local = raw.index(b"PK\x03\x04")
    struct.pack_into("<I", raw, local + 22, 1000)
    central = raw.index(b"PK\x01\x02")
    struct.pack_into("<I", raw, central + 24, 1000)
    path.write_bytes(bytes(raw))
    return path


def _symlink_zip(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("good.png", png())
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return path


UNSAFE_ARCHIVES = {
    "zip-slip": (lambda p: make_zip(p, {"good.png": png(), "../evil.png": png()}), {}, "unsafe entry name"),
    "absolute": (lambda p: make_zip(p, {"/tmp/evil.png": png()}), {}, "unsafe entry name"),
    "backslash": (lambda p: make_zip(p, {"\\evil.png": png()}), {}, "unsafe entry name"),
    "drive": (lambda p: make_zip(p, {"C:/evil.png": png()}), {}, "unsafe entry name"),
    "symlink": (_symlink_zip, {}, "symbolic link"),
    "too many": (
        lambda p: make_zip(p, {f"{i}.png": png() for i in range(6)}),
        {"max_entries": 5},
        "6 entries, more than the 5 allowed",
    ),
    "bomb": (lambda p: make_zip(p, {"a.png": png(), "bomb.bmp": bytes(20 << 20)}), {}, "zip bomb"),
    "entry too big": (
        lambda p: make_zip(p, {"a.png": noisy_png(0, 64)}, compression=zipfile.ZIP_STORED),
        {"max_entry_bytes": 1000},
        "more than the 1,000 allowed per file",
    ),
    "total too big": (
        lambda p: make_zip(p, {f"{i}.png": noisy_png(i, 32) for i in range(4)}),
        {"max_total_bytes": 5000},
        "more than the 5,000 bytes allowed",
    ),
    "lying size": (_lying_zip, {}, "damaged"),
    "only txt": (
        lambda p: make_zip(p, {"a.txt": b"1", "b.txt": b"2", "c.txt": b"3", "d.pdf": b"%"}),
        {},
        "holds no images (found 3 .txt files and 1 .pdf file); upload JPEG or PNG images",
    ),
    "not a zip": (lambda p: p.write_bytes(b"this is text, not a zip") and p, {}, "is not a zip archive"),
    "empty": (lambda p: make_zip(p, {}), {}, "is empty; upload a zip"),
    "only folders": (lambda p: make_zip(p, {"a/": b"", "__MACOSX/x": b""}), {}, "is empty (only folders"),
}


@pytest.mark.parametrize("case", list(UNSAFE_ARCHIVES))
def test_extract_zip_rejects_and_leaves_nothing(tmp_path: Path, case: str) -> None:
    build, limits, message = UNSAFE_ARCHIVES[case]
    archive = build(tmp_path / "calibration.zip")
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError) as caught:
        data.extract_zip(archive, dest, **limits)
    assert message in str(caught.value)
    assert str(caught.value).startswith("calibration.zip")
    assert not dest.exists() or not any(dest.iterdir())


def test_load_zip_failure_leaves_no_upload_folder(tmp_path: Path, workspace: Workspace) -> None:
    archive = make_zip(tmp_path / "evil.zip", {"ok.png": png(), "../evil.png": png()})
    with pytest.raises(ArchiveError):
        data.load_zip(archive, workspace=workspace)
    assert list(workspace.uploads_dir.iterdir()) == []
    assert not (tmp_path / "evil.png").exists()


# images ---------------------------------------------------------------------------------------


def _huge_png_header(width: int, height: int) -> bytes:
    """A valid PNG whose header claims a huge size, with almost no pixel data behind it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    )


def _jpeg(size: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
        buffer, "JPEG"
    )
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"just some text\n", "cat.txt is not an image in an accepted format (accepted: JPEG, PNG"),
        (b"", "cat.txt is empty (0 bytes)"),
        (_jpeg()[:400], "cat.txt is damaged or truncated"),
        (_huge_png_header(10_000, 8_000), "cat.txt has 80,000,000 pixels, more than the 50,000,000 allowed"),
        (
            _huge_png_header(20_000, 20_000),
            "cat.txt has 400,000,000 pixels, more than the 50,000,000 allowed",
        ),
    ],
    ids=["text", "empty", "truncated", "over-limit", "bomb"],
)
def test_open_image_refuses_with_a_clear_message(payload: bytes, message: str, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=re.escape(message)):
        data.open_image(payload, name="cat.txt")
    path = tmp_path / "cat.txt"
    path.write_bytes(payload)
    with pytest.raises(ImageError, match=re.escape(message)):
        data.open_image(path)


def test_open_image_refuses_formats_outside_the_list() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, "PPM")
    with pytest.raises(ImageError, match="not an image in an accepted format"):
        data.open_image(buffer.getvalue(), name="x.ppm")


def test_open_image_pixel_limit_follows_pillow_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Image.MAX_IMAGE_PIXELS == 50_000_000
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)
    with pytest.raises(ImageError, match="huge.png has 400 pixels, more than the 300 allowed; downscale it"):
        data.open_image(png(size=20), name="huge.png")


@pytest.mark.parametrize(
    ("mode", "fmt", "expected"),
    [("RGBA", "PNG", "RGB"), ("P", "PNG", "RGB"), ("CMYK", "TIFF", "RGB"), ("LA", "PNG", "RGB"),
     ("I;16", "PNG", "RGB"), ("1", "BMP", "RGB"), ("L", "PNG", "L"), ("RGB", "WEBP", "RGB")],
)  # fmt: skip
def test_open_image_converts_modes(mode: str, fmt: str, expected: str) -> None:
    buffer = io.BytesIO()
    Image.new(mode, (10, 6)).save(buffer, fmt)
    image = data.open_image(buffer.getvalue())
    assert (image.mode, image.size) == (expected, (10, 6))


def test_open_image_composites_transparency_on_white_and_scales_16_bit() -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (4, 4), (0, 0, 0, 0)).save(buffer, "PNG")
    assert data.open_image(buffer.getvalue()).getpixel((0, 0)) == (255, 255, 255)
    buffer = io.BytesIO()
    Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16)).save(buffer, "PNG")
    assert data.open_image(buffer.getvalue()).getpixel((0, 0)) == (128, 128, 128)


def test_open_image_applies_exif_orientation_and_takes_first_gif_frame() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20)).save(buffer, "JPEG", exif=exif)
    assert data.open_image(buffer.getvalue()).size == (20, 40)
    frames = [Image.new("L", (8, 8), value) for value in (10, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:])
    image = data.open_image(buffer.getvalue())
    assert np.asarray(image.convert("L")).max() == 10


# folders and CSV ------------------------------------------------------------------------------


def test_load_folder_flat_and_class_folders(tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        (flat / f"{i}.png").write_bytes(noisy_png(i))
    (flat / "notes.txt").write_text("x")
    assert len(data.load_folder(flat)) == 3
    assert not data.load_folder(flat).labelled
    classes = tmp_path / "classes"
    for label in ("cat", "dog"):
        (classes / label).mkdir(parents=True)
        (classes / label / "a.png").write_bytes(noisy_png(len(label)))
    found = data.load_folder(classes)
    assert [s.label for s in found] == ["cat", "dog"]
    assert found.labelled


def test_load_folder_without_images_says_what_it_found(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"holds no images \(found 2 .txt files\)"):
        data.load_folder(tmp_path)


def _csv_tree(tmp_path: Path, rows: str) -> Path:
    (tmp_path / "imgs").mkdir(exist_ok=True)
    (tmp_path / "imgs" / "a.png").write_bytes(noisy_png(1))
    (tmp_path / "imgs" / "b.png").write_bytes(noisy_png(2))
    (tmp_path / "labels.csv").write_text(rows)
    return tmp_path / "labels.csv"


def test_load_csv_with_and_without_header(tmp_path: Path) -> None:
    found = data.load_csv(_csv_tree(tmp_path, "file,label\nimgs/a.png,cat\nimgs/b.png,dog\n"))
    assert [(s.name, s.label) for s in found] == [("imgs/a.png", "cat"), ("imgs/b.png", "dog")]
    found = data.load_csv(_csv_tree(tmp_path, "imgs/a.png,3\n\nimgs/b.png,4\n"))
    assert [s.label for s in found] == ["3", "4"]
    assert found.samples[0].image().size == (16, 16)


def test_load_csv_names_missing_files(tmp_path: Path) -> None:
    rows = "file,label\nimgs/a.png,cat\n" + "".join(f"imgs/gone{i}.png,dog\n" for i in range(7))
    with pytest.raises(DatasetError, match=r"7 file\(s\) that do not exist \(imgs/gone0.png, .*and 2 more"):
        data.load_csv(_csv_tree(tmp_path, rows))


@pytest.mark.parametrize("entry", ["../outside.png", "/etc/passwd", "imgs/../../outside.png"])
def test_load_csv_refuses_paths_leaving_its_folder(tmp_path: Path, entry: str) -> None:
    (tmp_path / "outside.png").write_bytes(png())
    inner = tmp_path / "inner"
    inner.mkdir()
    with pytest.raises(DatasetError, match="points outside its folder"):
        data.load_csv(_csv_tree(inner, f"imgs/a.png,cat\n{entry},dog\n"))


def test_load_csv_refuses_symlinks_leaving_root(tmp_path: Path) -> None:
    (tmp_path / "outside.png").write_bytes(png())
    inner = tmp_path / "inner"
    inner.mkdir()
    csv_path = _csv_tree(inner, "imgs/a.png,cat\nlink.png,dog\n")
    (inner / "link.png").symlink_to(tmp_path / "outside.png")
    with pytest.raises(DatasetError, match="resolves outside"):
        data.load_csv(csv_path)


def test_load_dataset_dispatches_and_explains_bad_refs(tmp_path: Path, workspace: Workspace) -> None:
    archive = make_zip(tmp_path / "set.zip", {"cat/1.png": noisy_png(1), "dog/2.png": noisy_png(2)})
    assert data.load_dataset(archive, workspace=workspace).labelled
    (tmp_path / "c").mkdir()
    assert len(data.load_dataset(str(_csv_tree(tmp_path / "c", "imgs/a.png,1\n")))) == 1
    assert len(data.load_dataset(tmp_path / "c" / "imgs")) == 2
    with pytest.raises(DatasetError, match=r"accepted: builtin:imagenet-samples, (.*, )?builtin:mnist, "):
        data.load_dataset("builtin:cifar")
    with pytest.raises(DatasetError, match="does not exist"):
        data.load_dataset(tmp_path / "missing")
    with pytest.raises(DatasetError, match="needs a model's preprocessing"):
        data.load_dataset("noise", purpose="calibration")
    with pytest.raises(DatasetError, match="for calibration only, not evaluation"):
        data.load_dataset("noise", spec=MNIST, count=10)
    with pytest.raises(InputError, match="unknown purpose 'training'; choose one of calibration, evaluation"):
        data.load_dataset("builtin:mnist", purpose="training")  # options are parsed in one place (catalog)


# built-in sets --------------------------------------------------------------------------------


def test_imagenet_samples_are_20_labelled_images_matching_torchvision(imagenet_names: list[str]) -> None:
    found = data.load_dataset("builtin:imagenet-samples")
    assert len(found) == 20
    assert found.labelled
    indices = found.label_indices(imagenet_names)
    assert indices == [int(s.label) for s in found]
    assert all(0 <= i < 1000 for i in indices)
    assert imagenet_names[indices[0]] == "bull mastiff"  # imagenet_00_243.jpg
    assert found.samples[0].image().size == (512, 512)


def test_photo_calibration_never_contains_an_evaluation_image() -> None:
    evaluation = data.load_dataset("builtin:imagenet-samples")
    calibration = data.load_dataset("builtin:imagenet-samples", purpose="calibration", count=300)
    assert len(calibration) == 300
    assert not calibration.labelled
    assert "never measured on its own calibration images" in calibration.description
    names = [s.name for s in calibration]
    assert len(set(names)) == 300
    assert "chelsea#crop000" in names
    assert not set(names) & {s.name for s in evaluation}
    calibration_pixels = {pixel_hash(s.image()) for s in calibration}
    assert len(calibration_pixels) == 300
    assert not calibration_pixels & {pixel_hash(s.image()) for s in evaluation}
    assert len(data.load_dataset("builtin:photos")) < 300


def test_mnist_splits_are_disjoint_and_stratified() -> None:
    calibration = data.load_dataset("builtin:mnist", purpose="calibration")
    evaluation = data.load_dataset("builtin:mnist", purpose="evaluation")
    assert (len(calibration), len(evaluation)) == (300, 4700)
    assert not {s.name for s in calibration} & {s.name for s in evaluation}
    assert sorted({s.label for s in calibration}) == [str(d) for d in range(10)]
    assert all([s.label for s in calibration].count(str(d)) == 30 for d in range(10))
    digit = evaluation.samples[0].image()
    assert (digit.mode, digit.size) == ("L", (28, 28))
    assert calibration.label_indices([str(d) for d in range(10)]) == [int(s.label) for s in calibration]


def test_fingerprints_are_stable_and_tell_sets_apart() -> None:
    first = data.load_dataset("builtin:mnist", purpose="calibration").fingerprint()
    assert first == data.load_dataset("builtin:mnist", purpose="calibration").fingerprint()
    others = {
        data.load_dataset("builtin:mnist").fingerprint(),
        data.load_dataset("builtin:imagenet-samples").fingerprint(),
        data.load_dataset("builtin:photos").fingerprint(),
        data.load_dataset("noise", purpose="calibration", spec=MNIST, count=10).fingerprint(),
    }
    assert len(others) == 4
    assert first not in others
    assert len(first) == 64


def test_subset_is_deterministic_and_stratified() -> None:
    evaluation = data.load_dataset("builtin:mnist")
    subset = evaluation.subset(100)
    assert [s.name for s in subset] == [s.name for s in evaluation.subset(100)]
    assert [s.name for s in subset] != [s.name for s in evaluation.subset(100, seed=1)]
    assert all([s.label for s in subset].count(str(d)) == 10 for d in range(10))
    assert data.load_dataset("builtin:mnist", count=50).fingerprint() == evaluation.subset(50).fingerprint()
    photos = data.load_dataset("builtin:photos")
    assert [s.name for s in photos.subset(5)] == [s.name for s in photos.subset(5)]
    assert len({s.name for s in photos.subset(5)}) == 5


def test_noise_matches_the_model_input() -> None:
    spec = PreprocessSpec(size=24, resize=24)
    noise = data.load_dataset("noise", purpose="calibration", spec=spec, count=3)
    assert len(noise) == 3
    assert "noise" in noise.description
    image = noise.samples[0].image()
    again = data.load_dataset("noise", purpose="calibration", spec=spec, count=3)
    assert (image.mode, image.size) == ("RGB", (24, 24))
    assert pixel_hash(image) == pixel_hash(again.samples[0].image())


def _labelled(*labels: str) -> data.ImageSet:
    def blank() -> Image.Image:
        return Image.new("RGB", (1, 1))

    samples = [data.Sample(name=f"{i}.png", load=blank, label=label) for i, label in enumerate(labels)]
    return data.ImageSet(name="my set", samples=samples)


def test_label_indices_accepts_index_name_synonym_and_wordnet_id(imagenet_names: list[str]) -> None:
    found = _labelled("281", "Tabby", "great_white_shark", "n01440764", "tabby, tabby cat")
    assert found.label_indices(imagenet_names) == [281, 281, 2, 0, 281]
    long_names = ["tench, Tinca tinca", "goldfish, Carassius auratus"]
    assert _labelled("Goldfish", "tench").label_indices(long_names) == [1, 0]


def test_label_indices_lists_unknown_labels(imagenet_names: list[str]) -> None:
    bad = _labelled("tabby", "unicorn", "1000", *[f"x{i}" for i in range(5)])
    with pytest.raises(DatasetError) as caught:
        bad.label_indices(imagenet_names)
    message = str(caught.value)
    assert "7 label(s) do not match" in message
    assert "'unicorn'" in message
    assert "'1000' is out of range" in message
    assert "and 2 more" in message
    assert "class index 0-999" in message
    assert "WordNet id" in message
    with pytest.raises(DatasetError, match=r"'crane' is ambiguous \(classes 0, 1\)"):
        _labelled("crane").label_indices(["crane, bird", "crane, machine"])
    with pytest.raises(DatasetError, match="unlabelled"):
        data.load_dataset("builtin:photos").label_indices(imagenet_names)


def test_gallery_has_photos_imagenet_samples_and_digits() -> None:
    from ui.gallery import gallery

    samples = gallery()
    names = [s.name for s in samples]
    assert "chelsea (cat)" in names
    assert "imagenet_00_243.jpg" in names
    assert sum(s.label is not None for s in samples) == 24
    assert all(s.image().size[0] > 0 for s in samples)
