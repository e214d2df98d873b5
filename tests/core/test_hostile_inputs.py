"""Hostile uploads, built in the test: pathological image shapes and modes, zip tricks, ONNX models
that hide external data. Each test checks the message a user would see."""

from __future__ import annotations

import io
import re
import struct
import tracemalloc
import unicodedata
import warnings
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from PIL import Image

from core import data
from core.data.archives import MAX_ZIP_ENTRIES
from core.data.images import MAX_ASPECT_RATIO, MAX_IMAGE_SIDE
from core.errors import ArchiveError, DatasetError, ImageError, ModelFileError
from core.modelfiles import OnnxInfo, check_onnx
from core.workspace import Workspace

# images ---------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG header (8-bit grey) with no pixel data: decoding it can only fail as truncated."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def png_16_bit(color_type: int, samples: tuple[int, ...], size: tuple[int, int] = (3, 2)) -> bytes:
    """A 16-bit colour PNG (Pillow cannot write one): every pixel holds `samples`."""
    width, height = size
    row = b"\x00" + struct.pack(f">{len(samples)}H", *samples) * width
    ihdr = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(row * height))
        + png_chunk(b"IEND", b"")
    )


def _ratio_message(label: str, size: str, ratio: str) -> str:
    return (
        f"{label} is {size} pixels, an aspect ratio of {ratio}; the tool accepts up to 20:1 "
        "(and sides up to 16,384 px): crop or resize it first"
    )


PATHOLOGICAL_SHAPES = {
    "wide png": (lambda: encode(Image.new("L", (50_000, 1)), "PNG"), "wide.png", "50,000 × 1", "50,000:1"),
    "tall png": (lambda: encode(Image.new("L", (1, 50_000)), "PNG"), "tall.png", "1 × 50,000", "1:50,000"),
    "wide gif": (lambda: encode(Image.new("L", (50_000, 1)), "GIF"), "wide.gif", "50,000 × 1", "50,000:1"),
    "tall tiff": (lambda: encode(Image.new("L", (1, 50_000)), "TIFF"), "tall.tif", "1 × 50,000", "1:50,000"),
    "wide webp": (
        lambda: encode(Image.new("RGB", (16_383, 1)), "WEBP"),
        "wide.webp",
        "16,383 × 1",
        "16,383:1",
    ),
    "just over": (lambda: encode(Image.new("RGB", (1_000, 47)), "JPEG"), "strip.jpg", "1,000 × 47", "21.3:1"),
    "header only": (lambda: png_header_only(50_000, 1), "wide.png", "50,000 × 1", "50,000:1"),
}


@pytest.mark.parametrize("case", list(PATHOLOGICAL_SHAPES))
def test_open_image_refuses_extreme_aspect_ratios(case: str, tmp_path: Path) -> None:
    build, label, size, ratio = PATHOLOGICAL_SHAPES[case]
    payload = build()
    message = _ratio_message(label, size, ratio)
    with pytest.raises(ImageError) as caught:
        data.open_image(payload, name=label)
    assert str(caught.value) == message
    path = tmp_path / label
    path.write_bytes(payload)
    with pytest.raises(ImageError, match=re.escape(message)):
        data.open_image(path)


@pytest.mark.parametrize(
    ("width", "height", "message"),
    [
        (20_000, 2_000, "big.png is 20,000 × 2,000 pixels; the tool accepts sides up to 16,384 px"),
        (1_000, 16_385, "big.png is 1,000 × 16,385 pixels; the tool accepts sides up to 16,384 px"),
    ],
)
def test_open_image_refuses_long_sides_from_the_header_alone(width: int, height: int, message: str) -> None:
    # no pixel data behind the header: had it been decoded, the message would say "truncated"
    with pytest.raises(ImageError) as caught:
        data.open_image(png_header_only(width, height), name="big.png")
    assert str(caught.value) == f"{message} (and aspect ratios up to 20:1): resize it first"


def test_pixel_cap_holds_even_when_pillow_limit_is_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    # another library may set Image.MAX_IMAGE_PIXELS = None for its own big images
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    with pytest.raises(ImageError) as caught:
        data.open_image(png_header_only(10_000, 6_000), name="huge.png")
    assert str(caught.value) == (
        "huge.png has 60,000,000 pixels, more than the 50,000,000 allowed; downscale it first"
    )


@pytest.mark.parametrize(
    ("size", "fmt"),
    [((2_000, 100), "PNG"), ((100, 2_000), "PNG"), ((16_384, 820), "PNG"), ((4_032, 3_024), "JPEG")],
    ids=["20:1 panorama", "1:20 portrait strip", "longest side", "12 MP phone photo"],
)
def test_open_image_still_accepts_panoramas_and_phone_photos(size: tuple[int, int], fmt: str) -> None:
    assert MAX_ASPECT_RATIO == 20
    assert MAX_IMAGE_SIDE == 16_384
    image = data.open_image(encode(Image.new("RGB", size, (40, 90, 200)), fmt), name=f"photo.{fmt.lower()}")
    assert (image.mode, image.size) == ("RGB", size)


def _premultiplied_grey_tiff() -> bytes:
    """A grey TIFF whose alpha is marked associated (ExtraSamples = 1): Pillow opens it as "La"."""
    raw = bytearray(encode(Image.new("LA", (5, 3), (10, 200)), "TIFF"))
    entry = struct.pack("<HHIH", 338, 3, 1, 2)  # ExtraSamples, SHORT, 1 value: unassociated alpha
    at = raw.index(entry)
    raw[at + 8 : at + 10] = struct.pack("<H", 1)
    return bytes(raw)


def test_open_image_converts_premultiplied_alpha_instead_of_crashing() -> None:
    payload = _premultiplied_grey_tiff()
    assert Image.open(io.BytesIO(payload)).mode == "La"
    image = data.open_image(payload, name="scan.tif")
    straight = data.open_image(encode(Image.new("LA", (5, 3), (13, 200)), "PNG"))
    assert (image.mode, image.size) == ("RGB", (5, 3))
    assert abs(image.getpixel((0, 0))[0] - straight.getpixel((0, 0))[0]) <= 1


def test_open_image_float_tiff_with_nan_and_infinity_decodes_without_numpy_warnings() -> None:
    pixels = np.array([[np.nan, np.inf, -np.inf, 32_768.0]], dtype=np.float32)
    payload = encode(Image.fromarray(pixels, "F"), "TIFF")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = data.open_image(payload, name="depth.tif")
    assert [image.getpixel((x, 0))[0] for x in range(4)] == [0, 255, 0, 128]


def test_open_image_reads_16_bit_colour_pngs_and_cmyk_jpegs() -> None:
    rgb = data.open_image(png_16_bit(2, (65_535, 32_768, 0)), name="rgb16.png")
    assert (rgb.mode, rgb.getpixel((0, 0))) == ("RGB", (255, 128, 0))
    rgba = data.open_image(png_16_bit(6, (0, 0, 0, 0)), name="rgba16.png")
    assert rgba.getpixel((0, 0)) == (255, 255, 255)  # fully transparent: white, not black
    cmyk = data.open_image(encode(Image.new("CMYK", (8, 8), (0, 0, 0, 0)), "JPEG"), name="print.jpg")
    assert cmyk.mode == "RGB"
    assert all(value > 250 for value in cmyk.getpixel((0, 0)))


def test_open_image_palette_transparency_becomes_white() -> None:
    palette = Image.new("P", (4, 4), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    for fmt in ("PNG", "GIF"):
        image = data.open_image(encode(palette, fmt, transparency=0), name=f"icon.{fmt.lower()}")
        assert image.getpixel((0, 0)) == (255, 255, 255), fmt


@pytest.mark.parametrize("fmt", ["PNG", "GIF", "TIFF", "BMP", "WEBP"])
def test_open_image_refuses_truncated_files_of_every_format(fmt: str) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    payload = encode(Image.fromarray(pixels), fmt)
    with pytest.raises(ImageError, match=r"^cut\.img is damaged or truncated \(.*\); export it again"):
        data.open_image(payload[: len(payload) * 6 // 10], name="cut.img")


@pytest.mark.parametrize(("fmt", "count"), [("GIF", 2_000), ("PNG", 2_000), ("WEBP", 500), ("TIFF", 200)])
def test_open_image_takes_the_first_of_hundreds_or_thousands_of_frames(fmt: str, count: int) -> None:
    frames = [Image.new("L", (8, 8), 7 + index % 200) for index in range(count)]
    options = {} if fmt == "TIFF" else {"duration": 10}
    payload = encode(frames[0], fmt, save_all=True, append_images=frames[1:], **options)
    assert Image.open(io.BytesIO(payload)).n_frames >= 100
    image = data.open_image(payload, name=f"anim.{fmt.lower()}")
    assert image.size == (8, 8)
    assert abs(image.convert("L").getpixel((0, 0)) - 7) <= 2


@pytest.mark.parametrize(
    ("orientation", "size"), [(8, (20, 40)), (9, (40, 20)), (0, (40, 20)), (65_535, (40, 20))]
)
def test_open_image_exif_orientation_tricks(orientation: int, size: tuple[int, int]) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    payload = encode(Image.new("RGB", (40, 20)), "PNG", exif=exif)
    assert data.open_image(payload, name="turned.png").size == size


def test_open_image_ignores_a_broken_exif_block() -> None:
    payload = encode(Image.new("RGB", (40, 20)), "JPEG", exif=b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff")
    assert data.open_image(payload, name="odd.jpg").size == (40, 20)


# zip archives ---------------------------------------------------------------------------------


def png_bytes(value: int = 0, size: int = 8) -> bytes:
    return encode(Image.new("RGB", (size, size), (value, 0, 0)), "PNG")


def write_zip(
    path: Path, entries: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names; that is the point
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, payload in entries:
                archive.writestr(zipfile.ZipInfo(name), payload, compress_type=compression)
    return path


def patch_central(path: Path, name: str, **fields: int) -> Path:
    """Rewrite fields of one entry's central (and local) header, the way a hostile tool would."""
    offsets = {"flags": (8, 6, "<H"), "method": (10, 8, "<H"), "crc": (16, 14, "<I"),
               "compressed": (20, 18, "<I"), "size": (24, 22, "<I")}  # fmt: skip
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    while True:
        name_length = struct.unpack_from("<H", raw, central + 28)[0]
        if raw[central + 46 : central + 46 + name_length] == name.encode():
            break
        extra, comment = struct.unpack_from("<HH", raw, central + 30)
        central = raw.index(b"PK\x01\x02", central + 46 + name_length + extra + comment)
    local = struct.unpack_from("<I", raw, central + 42)[0]
    for key, value in fields.items():
        in_central, in_local, fmt = offsets[key]
        struct.pack_into(fmt, raw, central + in_central, value)
        struct.pack_into(fmt, raw, local + in_local, value)
    path.write_bytes(bytes(raw))
    return path


DUPLICATES = {
    "same name": (["cat/1.jpg", "cat/1.jpg"], "photos.zip holds two entries named 'cat/1.jpg'; re-create the archive"),
    "case": (["cat/1.jpg", "Cat/1.JPG"], "named 'cat/1.jpg' and 'Cat/1.JPG', which become one file on some systems"),
    "dot slash": (["cat/1.jpg", "./cat/1.jpg"], "named 'cat/1.jpg' and './cat/1.jpg'"),
    "backslash": (["cat/1.jpg", "cat\\1.jpg"], "named 'cat/1.jpg' and 'cat\\\\1.jpg'"),
    "unicode form": (
        [unicodedata.normalize("NFC", "café/1.png"), unicodedata.normalize("NFD", "café/1.png")],
        "which become one file on some systems; rename one and re-create the archive",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(DUPLICATES))
def test_extract_zip_refuses_duplicate_names(tmp_path: Path, case: str) -> None:
    names, message = DUPLICATES[case]
    archive = write_zip(tmp_path / "photos.zip", [(name, png_bytes(i)) for i, name in enumerate(names)])
    with pytest.raises(ArchiveError) as caught:
        data.extract_zip(archive, tmp_path / "out")
    assert message in str(caught.value)
    assert str(caught.value).startswith("photos.zip holds two entries")
    assert not (tmp_path / "out").exists()


def test_load_zip_no_longer_loses_one_of_two_same_named_images(tmp_path: Path) -> None:
    archive = write_zip(tmp_path / "photos.zip", [("cat/1.jpg", png_bytes(1)), ("cat/1.jpg", png_bytes(2))])
    with pytest.raises(ArchiveError, match="holds two entries named 'cat/1.jpg'"):
        data.load_zip(archive, workspace=Workspace(tmp_path / "ws"))


def test_load_zip_reads_names_written_with_a_dot_slash(tmp_path: Path) -> None:
    # some tools write "./cat/1.png"; the "." was taken for a hidden file and the zip called empty
    archive = write_zip(tmp_path / "set.zip", [("./cat/1.png", png_bytes(1)), ("./dog/2.png", png_bytes(2))])
    found = data.load_zip(archive, workspace=Workspace(tmp_path / "ws"))
    assert [sample.label for sample in found] == ["cat", "dog"]


def test_extract_zip_refuses_entries_that_share_bytes(tmp_path: Path) -> None:
    """Entry a.png's declared data runs over b.png: the trick of overlapping zip bombs."""
    path = write_zip(
        tmp_path / "set.zip",
        [("a.png", png_bytes(1)), ("b.png", png_bytes(2))],
        compression=zipfile.ZIP_STORED,
    )
    raw = path.read_bytes()
    start = 30 + len("a.png")
    covered = raw[start : raw.index(b"PK\x01\x02")]  # a.png's bytes, then b.png's header and bytes
    patch_central(path, "a.png", crc=zlib.crc32(covered), compressed=len(covered), size=len(covered))
    with pytest.raises(ArchiveError) as caught:
        data.extract_zip(path, tmp_path / "out")
    assert str(caught.value) == (
        "set.zip: the entries 'a.png' and 'b.png' share bytes, which only a zip bomb needs; re-create the archive"
    )


@pytest.mark.parametrize(
    ("compression", "method"),
    [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")],
)
def test_extract_zip_refuses_compression_it_cannot_bound(
    tmp_path: Path, compression: int, method: str
) -> None:
    archive = write_zip(tmp_path / "set.zip", [("a.png", png_bytes())], compression=compression)
    with pytest.raises(ArchiveError) as caught:
        data.extract_zip(archive, tmp_path / "out")
    assert str(caught.value) == (
        f"set.zip: a.png uses {method} compression, which the tool does not unpack; "
        "re-create the archive with standard Deflate compression"
    )


def test_a_tiny_bzip2_entry_with_a_lying_size_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    """zipfile unpacks a whole bzip2 read at once: 16 MB from about 40 bytes, declared as 1,000."""
    path = write_zip(tmp_path / "bomb.zip", [("a.png", bytes(16 << 20))], compression=zipfile.ZIP_BZIP2)
    patch_central(path, "a.png", size=1_000)
    assert path.stat().st_size < 1_000
    tracemalloc.start()
    try:
        with pytest.raises(
            ArchiveError, match="a.png uses bzip2 compression, which the tool does not unpack"
        ):
            data.extract_zip(path, tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_extract_zip_unsupported_method_is_named(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "set.zip", [("a.png", png_bytes())], compression=zipfile.ZIP_STORED)
    patch_central(path, "a.png", method=9)
    with pytest.raises(
        ArchiveError, match="set.zip: a.png uses Deflate64 compression, which the tool does not"
    ):
        data.extract_zip(path, tmp_path / "out")


def _many_tiny_entries(path: Path, count: int) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for index in range(count):
            archive.writestr(f"{index}.png", b"")
    return path


def test_extract_zip_counts_entries_before_parsing_the_table_of_contents(tmp_path: Path) -> None:
    path = _many_tiny_entries(tmp_path / "tiny.zip", 30_000)
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveError) as caught:
            data.extract_zip(path, tmp_path / "out")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == (
        f"tiny.zip holds 30,000 entries, more than the {MAX_ZIP_ENTRIES:,} allowed; split it into smaller archives"
    )
    assert peak < 2 << 20  # parsing the 30,000 entries took 15 MB


def test_extract_zip_caps_the_table_of_contents_when_its_count_lies(tmp_path: Path) -> None:
    path = _many_tiny_entries(tmp_path / "tiny.zip", 1_000)
    raw = bytearray(path.read_bytes())
    end = raw.rindex(b"PK\x05\x06")
    struct.pack_into("<HH", raw, end + 8, 3, 3)  # "3 entries"
    path.write_bytes(bytes(raw))
    with pytest.raises(
        ArchiveError, match=r"^tiny.zip has a table of contents of [\d,]+ bytes, more than 10"
    ):
        data.extract_zip(path, tmp_path / "out", max_entries=10)


def test_extract_zip_refuses_encrypted_entries(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "locked.zip", [("a.png", png_bytes()), ("secret.png", png_bytes(1))])
    patch_central(path, "secret.png", flags=0x1)
    with pytest.raises(ArchiveError) as caught:
        data.extract_zip(path, tmp_path / "out")
    assert str(caught.value) == "locked.zip is encrypted (secret.png); upload an archive without a password"


def test_extract_zip_does_not_open_nested_zips(tmp_path: Path) -> None:
    inner = write_zip(tmp_path / "inner.zip", [("a.png", png_bytes())]).read_bytes()
    only = write_zip(tmp_path / "outer.zip", [("inner.zip", inner)])
    with pytest.raises(ArchiveError) as caught:
        data.extract_zip(only, tmp_path / "out")
    assert str(caught.value) == "outer.zip holds no images (found 1 .zip file); upload JPEG or PNG images"
    beside = write_zip(tmp_path / "mixed.zip", [("b.png", png_bytes()), ("inner.zip", inner)])
    assert [m.original for m in data.extract_zip(beside, tmp_path / "out2")] == ["b.png"]


@pytest.mark.parametrize(
    "name", ["C:evil.png", "..\\evil.png", "sub/../../evil.png", "//server/share/evil.png"]
)
def test_extract_zip_refuses_more_unsafe_names(tmp_path: Path, name: str) -> None:
    path = write_zip(tmp_path / "set.zip", [("ok.png", png_bytes()), (name, png_bytes())])
    with pytest.raises(ArchiveError, match=re.escape(f"set.zip holds an unsafe entry name {name!r}")):
        data.extract_zip(path, tmp_path / "out")


def test_extract_zip_refuses_control_characters_in_names(tmp_path: Path) -> None:
    path = write_zip(tmp_path / "set.zip", [("cat\n/1.png", png_bytes())])
    with pytest.raises(ArchiveError) as caught:
        data.extract_zip(path, tmp_path / "out")
    assert str(caught.value) == (
        "set.zip holds an entry name with control characters ('cat\\n/1.png'); "
        "rename that file and re-create the archive"
    )


@pytest.mark.parametrize("row", ["../../outside.png", "/etc/passwd", "C:/Windows/win.ini"])
def test_load_zip_csv_cannot_point_outside_the_archive(tmp_path: Path, row: str) -> None:
    (tmp_path / "outside.png").write_bytes(png_bytes())
    path = write_zip(
        tmp_path / "set.zip",
        [("labels.csv", f"file,label\na.png,cat\n{row},dog\n".encode()), ("a.png", png_bytes())],
    )
    with pytest.raises(
        DatasetError, match=re.escape(f"set.zip:labels.csv names {row!r}, which points outside")
    ):
        data.load_zip(path, workspace=Workspace(tmp_path / "ws"))


# ONNX -----------------------------------------------------------------------------------------


def external(tensor: TensorProto) -> TensorProto:
    """Point a tensor's bytes at a file beside the model, as exporters do for large models."""
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../../etc/passwd"), ("offset", "0"), ("length", "16")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


def weights(name: str, values: tuple[float, ...] = (1.0,)) -> TensorProto:
    return helper.make_tensor(name, TensorProto.FLOAT, [len(values)], list(values))


def constant(
    name: str, tensor: TensorProto, *, sparse: onnx.SparseTensorProto | None = None
) -> onnx.NodeProto:
    if sparse is not None:
        return helper.make_node("Constant", [], [f"{name}_out"], name=name, sparse_value=sparse)
    return helper.make_node("Constant", [], [f"{name}_out"], name=name, value=tensor)


def branch(name: str, nodes: list[onnx.NodeProto], initializers: list[TensorProto] = ()) -> onnx.GraphProto:
    out = helper.make_tensor_value_info(nodes[-1].output[0] if nodes else "w", TensorProto.FLOAT, None)
    return helper.make_graph(nodes, name, [], [out], initializer=list(initializers))


def sparse_tensor(name: str) -> onnx.SparseTensorProto:
    values = weights(name, (5.0,))
    indices = helper.make_tensor(f"{name}_indices", TensorProto.INT64, [1], [2])
    return helper.make_sparse_tensor(values, indices, [4])


def classifier(
    extra_nodes: list[onnx.NodeProto] = (),
    *,
    initializers: list[TensorProto] = (),
    sparse: list[onnx.SparseTensorProto] = (),
    inputs: list[onnx.ValueInfoProto] | None = None,
    functions: list[onnx.FunctionProto] = (),
) -> onnx.ModelProto:
    """x [N, 3, 224, 224] -> Relu -> y, plus whatever a case adds."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu"), *extra_nodes]
    graph = helper.make_graph(
        nodes, "net", inputs if inputs is not None else [x], [y],
        initializer=list(initializers), sparse_initializer=list(sparse),
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], functions=list(functions))


def if_node(then_branch: onnx.GraphProto, else_branch: onnx.GraphProto, name: str = "if1") -> onnx.NodeProto:
    return helper.make_node(
        "If", ["cond"], [f"{name}_out"], name=name, then_branch=then_branch, else_branch=else_branch
    )


def loop_node(body: onnx.GraphProto, name: str = "loop1") -> onnx.NodeProto:
    return helper.make_node("Loop", ["", "cond"], [f"{name}_out"], name=name, body=body)


def _sparse_with_external(part: str) -> onnx.SparseTensorProto:
    sparse = sparse_tensor("s")
    external(sparse.values if part == "values" else sparse.indices)
    return sparse


def _function_with_external_constant() -> onnx.FunctionProto:
    return helper.make_function(
        "local", "f", ["a"], ["b"], [constant("fc", external(weights("fw")))], [helper.make_opsetid("", 17)]
    )


def _training_info_model() -> onnx.ModelProto:
    model = classifier()
    info = model.training_info.add()
    info.initialization.CopyFrom(branch("init", [], [external(weights("state"))]))
    return model


def _external_data_without_flag() -> onnx.ModelProto:
    tensor = weights("w")
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "w.bin"
    return classifier(initializers=[tensor])


HIDDEN_EXTERNAL_DATA: dict[str, tuple[Callable[[], onnx.ModelProto], str]] = {
    "top-level initializer": (
        lambda: classifier(initializers=[external(weights("w"))]),
        "in initializer 'w')",
    ),
    "Constant node": (
        lambda: classifier([constant("c1", external(weights("cw")))]),
        "in Constant node 'c1')",
    ),
    "If then-branch initializer": (
        lambda: classifier([if_node(branch("t", [], [external(weights("t_w"))]), branch("e", []))]),
        "in initializer 't_w' of subgraph 'then_branch' (If node 'if1'))",
    ),
    "If else-branch Constant": (
        lambda: classifier(
            [if_node(branch("t", []), branch("e", [constant("c1", external(weights("e_w")))]))]
        ),
        "in Constant node 'c1' of subgraph 'else_branch' (If node 'if1'))",
    ),
    "sparse initializer values": (
        lambda: classifier(sparse=[_sparse_with_external("values")]),
        "in the values of sparse initializer 's')",
    ),
    "sparse initializer indices": (
        lambda: classifier(sparse=[_sparse_with_external("indices")]),
        "in the indices of sparse initializer 's')",
    ),
    "Loop body sparse Constant": (
        lambda: classifier(
            [
                loop_node(
                    branch("body", [constant("c1", weights("x"), sparse=_sparse_with_external("values"))])
                )
            ]
        ),
        "in Constant node 'c1' of subgraph 'body' (Loop node 'loop1'))",
    ),
    "If inside a Scan body": (
        lambda: classifier(
            [
                helper.make_node(
                    "Scan",
                    ["x"],
                    ["s_out"],
                    name="scan1",
                    num_scan_inputs=1,
                    body=branch(
                        "body",
                        [
                            if_node(
                                branch("t", [constant("deep", external(weights("d")))]),
                                branch("e", []),
                                name="inner",
                            )
                        ],
                    ),
                )
            ]
        ),  # fmt: skip
        "in Constant node 'deep' of subgraph 'then_branch' (If node 'inner') of subgraph 'body' (Scan node 'scan1'))",
    ),
    "TENSORS attribute of a custom op": (
        lambda: classifier(
            [
                helper.make_node(
                    "Lookup",
                    [],
                    ["t"],
                    name="n1",
                    domain="custom",
                    tables=[weights("a"), external(weights("b"))],
                )
            ]
        ),
        "in Lookup node 'n1')",
    ),
    "GRAPHS attribute of a custom op": (
        lambda: classifier(
            [
                helper.make_node(
                    "Switch",
                    [],
                    ["t"],
                    name="n1",
                    domain="custom",
                    branches=[branch("b0", []), branch("b1", [], [external(weights("g_w"))])],
                )
            ]
        ),  # fmt: skip
        "in initializer 'g_w' of subgraph 'branches[1]' (Switch node 'n1'))",
    ),
    "local function": (
        lambda: classifier(functions=[_function_with_external_constant()]),
        "in Constant node 'fc' of function 'local.f')",
    ),
    "training graph": (_training_info_model, "in initializer 'state' of training graph 'initialization')"),
    "external_data entries without the flag": (_external_data_without_flag, "in initializer 'w')"),
    "unnamed node": (
        lambda: classifier([helper.make_node("Constant", [], ["k"], value=external(weights("k")))]),
        "in unnamed Constant node #1)",
    ),
}


def save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


@pytest.mark.parametrize("case", list(HIDDEN_EXTERNAL_DATA))
def test_check_onnx_finds_external_data_wherever_it_hides(tmp_path: Path, case: str) -> None:
    build, where = HIDDEN_EXTERNAL_DATA[case]
    path = save(build(), tmp_path / "model.onnx")
    with pytest.raises(ModelFileError) as caught:
        check_onnx(path, max_bytes=1 << 20)
    assert str(caught.value) == (
        f"model.onnx keeps weights in external files ({where}; export it as one self-contained .onnx file"
    )


def test_check_onnx_describes_a_clean_model(tmp_path: Path) -> None:
    model = classifier(
        [if_node(branch("t", [constant("c1", weights("tw"))]), branch("e", []))],
        initializers=[weights("w", (1.0, 2.0))],
        sparse=[sparse_tensor("s")],
        inputs=[
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 224, 224]),
            helper.make_tensor_value_info(
                "w", TensorProto.FLOAT, [2]
            ),  # old exporters list weights as inputs
        ],
    )
    info = check_onnx(save(model, tmp_path / "model.onnx"), max_bytes=1 << 20)
    assert info == OnnxInfo(input_name="x", input_shape=(-1, 3, 224, 224), opset=17, nodes=2)


def test_check_onnx_refuses_large_files_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\xff" * 3_000)  # not even ONNX: the size is checked first
    with pytest.raises(ModelFileError) as caught:
        check_onnx(path, max_bytes=2_048)
    assert str(caught.value) == (
        "model.onnx is 3,000 bytes, more than the 2,048 bytes allowed for a model file; choose a smaller model"
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            b"this is text, not a model",
            "model.onnx is not a readable ONNX model (DecodeError); export it again",
        ),
        (b"", "model.onnx is not an ONNX model (it holds no graph); export it again with torch.onnx.export"),
        (
            helper.make_model(helper.make_graph([], "g", [], [])).SerializeToString(),
            "model.onnx is not an ONNX model (it holds no graph)",
        ),
    ],
    ids=["text", "empty file", "empty graph"],
)
def test_check_onnx_refuses_files_that_are_not_models(tmp_path: Path, payload: bytes, message: str) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(payload)
    with pytest.raises(ModelFileError, match=re.escape(message)):
        check_onnx(path, max_bytes=1 << 20)


def test_check_onnx_refuses_other_than_one_input(tmp_path: Path) -> None:
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])
    mask = helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 224, 224])
    with pytest.raises(ModelFileError) as caught:
        check_onnx(save(classifier(inputs=[image, mask]), tmp_path / "model.onnx"), max_bytes=1 << 20)
    assert str(caught.value) == (
        "model.onnx has 2 inputs ('image', 'mask'); an image classifier takes one image tensor"
    )
    with pytest.raises(ModelFileError, match=r"model.onnx has 0 inputs; an image classifier takes one"):
        check_onnx(save(classifier(inputs=[]), tmp_path / "model.onnx"), max_bytes=1 << 20)
