"""Finding and decoding files: every format and mode, EXIF, draft decoding, and every kind of bad file."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer import images
from indexer.config import Settings, load_settings
from indexer.demo.hostile import png_claiming
from indexer.errors import UsageError
from indexer.images import BadImage, FoundFile, Skipped, decode_image, read_metadata, walk_images
from indexer.images.formats import MB
from indexer.library import Library

from helpers import make_image


def _decode(path: Path, min_side: int = 224):
    return decode_image(path.read_bytes(), min_side)


@pytest.mark.parametrize("name, fmt, mode", [
    ("a.jpg", "JPEG", "RGB"), ("a.png", "PNG", "RGBA"), ("p.png", "PNG", "P"), ("l.png", "PNG", "L"),
    ("a.gif", "GIF", "P"), ("a.webp", "WEBP", "RGB"), ("a.bmp", "BMP", "RGB"), ("c.tif", "TIFF", "CMYK"),
    ("g.jpg", "JPEG", "L"), ("la.png", "PNG", "LA"),
])
def test_formats_and_modes_decode_to_rgb(tmp_path, name, fmt, mode):
    path = make_image(tmp_path / name, "red", size=(300, 200), fmt=fmt, mode=mode)
    decoded = _decode(path)
    assert decoded.image.mode == "RGB"
    assert (decoded.width, decoded.height) == (300, 200)
    assert decoded.format == fmt
    assert images.is_image_name(name)


def test_multi_frame_files_use_the_first_frame(tmp_path):
    for name, fmt, extra in (("stereo.mpo", "MPO", {}), ("anim.gif", "GIF", {}),
                             ("pages.tif", "TIFF", {"compression": "tiff_lzw"})):
        frames = [Image.new("RGB", (120, 80), colour) for colour in ((250, 0, 0), (0, 0, 250))]
        frames[0].save(tmp_path / name, fmt, save_all=True, append_images=frames[1:], **extra)
        decoded = _decode(tmp_path / name)
        assert decoded.format == fmt
        red, _, blue = decoded.image.getpixel((60, 40))
        assert red > 200 and blue < 50, name


def test_sixteen_bit_greyscale_keeps_its_contrast(tmp_path):
    ramp = (np.arange(256 * 64, dtype=np.uint16).reshape(64, 256) * 4).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(_decode(path).image)
    assert pixels.min() == 0 and pixels.max() == 255  # not clipped to white


def test_transparent_areas_become_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (50, 50), (255, 0, 0, 0)).save(path)
    assert _decode(path).image.getpixel((10, 10)) == (255, 255, 255)


def test_heif_support_is_registered():
    assert {".heic", ".heif"} <= images.IMAGE_SUFFIXES
    assert ".heic" in Image.registered_extensions()


def test_exif_orientation_and_metadata(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    exif[0x010F], exif[0x0110] = "Canon", "EOS 5D"
    exif.get_ifd(0x8769)[0x9003] = "2021:07:14 18:30:05"
    exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 31.0, 12.0), 3: "W", 4: (0.0, 7.0, 30.0)})
    path = make_image(tmp_path / "rotated.jpg", size=(300, 200), exif=exif)
    decoded = _decode(path)
    assert decoded.image.size == (200, 300)
    assert (decoded.width, decoded.height) == (200, 300)
    meta = decoded.metadata
    assert meta["orientation"] == 6
    assert meta["camera"] == "Canon EOS 5D"
    assert meta["taken_at"].startswith("2021-07-14T18:30:05")
    assert meta["gps"]["lat"] == pytest.approx(52.52, abs=1e-3)
    assert meta["gps"]["lon"] == pytest.approx(-0.125, abs=1e-3)


def test_orientation_survives_mode_conversion(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 8
    path = tmp_path / "rotated.png"
    Image.new("RGBA", (300, 200), (0, 200, 0, 255)).save(path, exif=exif)
    decoded = _decode(path)
    assert decoded.image.mode == "RGB" and decoded.image.size == (200, 300)


def test_broken_exif_costs_only_the_metadata():
    image = Image.new("RGB", (10, 10))
    assert read_metadata(image) == {}


def test_large_jpeg_is_draft_decoded(tmp_path):
    path = make_image(tmp_path / "camera.jpg", size=(4000, 3000))
    decoded = _decode(path, min_side=256)
    assert (decoded.width, decoded.height) == (4000, 3000)  # the payload keeps the real size
    assert decoded.image.size == (500, 375)  # DCT-scaled 1/8, still >= 256 on the short side


def test_limits_are_judged_from_the_header_before_decoding(tmp_path):
    limits = images.DecodeLimits(max_pixels=5_000_000, max_aspect=3)
    panorama = make_image(tmp_path / "panorama.jpg", size=(3000, 1000))  # 3 MP, 3:1
    assert decode_image(panorama.read_bytes(), 256, limits).width == 3000
    big = make_image(tmp_path / "big.jpg", size=(3000, 2000))  # 6 MP: refused even though draft would shrink it
    with pytest.raises(BadImage, match="decompression bomb: the header declares 3000x2000 = 6 megapixels"):
        decode_image(big.read_bytes(), 256, limits)
    strip = make_image(tmp_path / "strip.png", size=(1300, 400), fmt="PNG")
    with pytest.raises(BadImage, match="extreme aspect ratio: 1300x400"):
        decode_image(strip.read_bytes(), 256, limits)


def test_limits_come_from_the_settings(tmp_path):
    environ = {"PIXCEPT_MAX_MEGAPIXELS": "2.5", "PIXCEPT_MAX_ASPECT": "4", "PIXCEPT_MAX_FILE_MB": "1"}
    settings = load_settings({"data_dir": tmp_path}, environ)
    limits = images.DecodeLimits.from_settings(settings.limits)
    assert (limits.max_pixels, limits.max_aspect) == (2_500_000, 4)
    assert limits.file_limit("a.tif") == limits.file_limit("a.jpg") == MB
    with pytest.raises(UsageError, match="PIXCEPT_MAX_ASPECT must be a number above 0, not 'wide'"):
        load_settings({}, {"PIXCEPT_MAX_ASPECT": "wide"})
    # opening a library makes its limits the process's: a picture over them is refused when indexed
    make_image(tmp_path / "photos" / "big.png", size=(2000, 1500), fmt="PNG")
    try:
        with Library.open(settings):
            assert images.decode_limits().max_pixels == 2_500_000
            with pytest.raises(images.BadImage, match="decompression bomb"):
                images.decode_image((tmp_path / "photos" / "big.png").read_bytes(), 256)
    finally:
        images.limits.configure(Settings().limits)
    assert images.decode_limits() == images.DecodeLimits()


def test_a_file_larger_than_its_format_allows_is_not_read(tmp_path):
    junk = tmp_path / "junk.jpg"
    with open(junk, "wb") as out:
        out.truncate(151 * MB)  # sparse: takes no disk
    with pytest.raises(BadImage, match="file too large for JPEG: 151 MB \\(limit 150 MB"):
        images.read_file(str(junk))
    assert images.DecodeLimits().file_limit("x.tiff") == 1024 * MB


def test_bomb_header_is_refused_before_decoding():
    with pytest.raises(BadImage, match="decompression bomb"):
        decode_image(png_claiming(50_000, 50_000), 224)


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"this is a text file, not an image\n", "not an image"),
    (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "corrupt|truncated|not an image"),
])
def test_bad_bytes_give_reasons(data, reason):
    with pytest.raises(BadImage, match=reason):
        decode_image(data, 224)


def test_truncated_jpeg(tmp_path):
    data = make_image(tmp_path / "whole.jpg", size=(640, 480)).read_bytes()
    with pytest.raises(BadImage, match="truncated"):
        decode_image(data[: len(data) // 2], 224)


def test_walk_finds_images_and_passes_over_the_rest(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    make_image(root / "a.jpg")
    make_image(root / "sub" / "b.PNG", fmt="PNG")
    make_image(root / ".hidden" / "c.jpg")
    make_image(root / "._d.jpg")
    (root / "notes.txt").write_text("not an image")
    make_image(outside / "e.jpg")
    os.symlink(outside / "e.jpg", root / "link_out.jpg")
    os.symlink(root / "a.jpg", root / "link_in.jpg")
    os.symlink(outside, root / "dirlink")
    os.symlink("loop.jpg", root / "loop.jpg")
    os.symlink(root / "deleted.jpg", root / "dangling.jpg")
    os.mkfifo(root / "pipe.jpg")  # reading it would block the run forever
    entries = {Path(e.path).name: e for e in walk_images([root])}
    assert isinstance(entries["a.jpg"], FoundFile) and isinstance(entries["b.PNG"], FoundFile)
    assert isinstance(entries["link_in.jpg"], FoundFile)
    assert entries["link_out.jpg"] == Skipped(str(root / "link_out.jpg"),
                                              "symlink points outside the indexed folders (not followed)", False)
    assert entries["loop.jpg"].reason == "symlink loop" and entries["loop.jpg"].failure
    assert entries["dangling.jpg"].reason == "unreadable: No such file or directory"
    assert entries["pipe.jpg"].reason == "not a regular file"
    assert not {"c.jpg", "._d.jpg", "notes.txt", "e.jpg"} & set(entries)


def test_thumbnail_is_written_whole_and_small(tmp_path):
    image = Image.open(make_image(tmp_path / "x.png", size=(800, 400), fmt="PNG")).convert("RGB")
    target = images.thumbnail_path(tmp_path / "thumbs", "ab" * 32)
    images.write_thumbnail(image, target, 256, tmp_path / "thumbs")
    assert target.parent.parent.name == "ab" and target.parent.name == "ab"
    assert Image.open(target).size == (256, 128)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary file left behind
    assert not list((tmp_path / "thumbs" / images.STAGING).iterdir())
    assert Image.open(io.BytesIO(target.read_bytes())).format == "JPEG"


def test_what_a_killed_writer_left_is_cleaned_up(tmp_path):
    staging = tmp_path / "thumbs" / images.STAGING
    staging.mkdir(parents=True)
    (staging / "old.tmp").write_bytes(b"half a jpeg")
    (staging / "busy.tmp").write_bytes(b"being written by another process")
    os.utime(staging / "old.tmp", (1, 1))
    assert images.clean_staging(tmp_path / "thumbs") == 1
    assert [p.name for p in staging.iterdir()] == ["busy.tmp"]
