#!/usr/bin/env python3
"""PIL references for useg's image decoding and preprocessing.

usage: image_parity.py formats|photos SHARED_DIR TEST_BINARY

formats: synthetic files covering every kind of image the decoder handles
         (PNG grey/grey+alpha/RGB/RGBA/palette with 1..16 bits, interlaced,
         transparency; JPEG grey/RGB/CMYK/progressive/EXIF orientation 1..8),
         written with PIL (and by hand for the PNG kinds PIL cannot write).
photos:  real photos and label maps from SHARED_DIR/data (exit 77 when absent).

For each case it writes what Debian's PIL 9.4 produces (np.asarray of
Image.open(p).convert('RGB'), of the resize with each filter, of torchvision's
crops, and ToTensor + Normalize computed with torch as torchvision does) as
.npy, lists the cases in MANIFEST, and runs TEST_BINARY on the folder.
Exits with its status; 77 (skipped) when PIL or numpy are missing.
"""
import io
import os
import struct
import subprocess
import sys
import tempfile
import zlib

try:
    import numpy as np
    from PIL import Image, ImageOps
except ImportError as e:  # pragma: no cover - reported as a skip
    print(f"skipped: PIL/numpy unavailable ({e}); apt-get install python3-pil python3-numpy")
    sys.exit(77)

FILTERS = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC,
           "lanczos": Image.LANCZOS}
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class Cases:
    def __init__(self, folder):
        self.folder = folder
        self.lines = []

    def ref(self, name, array):
        path = os.path.join(self.folder, name + ".npy")
        np.save(path, np.ascontiguousarray(array))
        return path

    def decode(self, name, path, mode="rgb", exif=0):
        with Image.open(path) as im:
            if exif:
                im = ImageOps.exif_transpose(im)
            # A 1-bit image opens as mode "1" (bool); useg reads it like "L", 0/255.
            ref = np.asarray(im.convert("RGB") if mode == "rgb" else im.convert("L") if im.mode == "1" else im)
        self.lines.append(f"decode {name} {path} {mode} {exif} {self.ref(name + '.dec', ref)}")

    def resize(self, name, path, size, mode="rgb"):
        with Image.open(path) as im:
            im = im.convert("RGB") if mode == "rgb" else im
            for fname, f in FILTERS.items():
                ref = np.asarray(im.resize(size, f))
                tag = f"{name}.{fname}.{size[0]}x{size[1]}"
                self.lines.append(f"resize {tag} {path} {mode} {fname} {size[1]} {size[0]} {self.ref(tag, ref)}")

    def preprocess(self, name, path, short, crop):
        """PriMaPs/STEGO-style: Resize(short) + CenterCrop(crop) + ToTensor + Normalize."""
        import torch
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            # torchvision 0.14 _compute_resized_output_size and center_crop.
            if w <= h:
                nw, nh = short, int(short * h / w)
            else:
                nw, nh = int(short * w / h), short
            im = im.resize((nw, nh), Image.BILINEAR)
            top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
            im = im.crop((left, top, left + crop, top + crop))
            x = torch.from_numpy(np.array(im, np.uint8)).permute(2, 0, 1).contiguous()
            x = x.to(dtype=torch.float32).div(255)
            mean = torch.as_tensor(MEAN, dtype=torch.float32).view(-1, 1, 1)
            std = torch.as_tensor(STD, dtype=torch.float32).view(-1, 1, 1)
            x = x.sub_(mean).div_(std).unsqueeze(0)
        self.lines.append(f"preprocess {name} {path} {short} {crop} {self.ref(name + '.pre', x.numpy())}")

    def run(self, binary):
        with open(os.path.join(self.folder, "MANIFEST"), "w") as f:
            f.write("\n".join(self.lines) + "\n")
        return subprocess.call([binary, self.folder])


def png_by_hand(path, array, colour, depth, palette=None, trns=None, interlace=False):
    """A PNG PIL cannot write (16-bit colour, 2/4-bit grey, grey+alpha 16).

    array: (H, W, samples) integers; interlace writes Adam7."""
    h, w = array.shape[:2]
    samples = array.reshape(h, w, -1)

    def pack_rows(a):
        rows = []
        for y in range(a.shape[0]):
            row = a[y].reshape(-1)
            if depth == 16:
                raw = row.astype(">u2").tobytes()
            elif depth == 8:
                raw = row.astype(np.uint8).tobytes()
            else:
                per = 8 // depth
                padded = np.zeros(((len(row) + per - 1) // per) * per, np.uint8)
                padded[:len(row)] = row
                packed = np.zeros(len(padded) // per, np.uint8)
                for k in range(per):
                    packed |= (padded[k::per] << (8 - depth * (k + 1))).astype(np.uint8)
                raw = packed.tobytes()
            rows.append(b"\0" + raw)
        return b"".join(rows)

    if interlace:
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        data = b"".join(pack_rows(samples[y0::dy, x0::dx]) for x0, y0, dx, dy in passes
                        if samples[y0::dy, x0::dx].size)
    else:
        data = pack_rows(samples)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xffffffff)

    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, int(interlace)))
    if palette is not None:
        out += chunk(b"PLTE", bytes(palette))
    if trns is not None:
        out += chunk(b"tRNS", trns)
    out += chunk(b"IDAT", zlib.compress(data)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def formats(cases, folder):
    rng = np.random.default_rng(7)
    h, w = 37, 53
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    # A smooth picture compresses like a photo; JPEG cases use it.
    yy, xx = np.mgrid[0:h * 3, 0:w * 3]
    smooth = np.stack([(xx * 2) % 256, (yy * 3) % 256, (xx + yy) % 256], -1).astype(np.uint8)

    def save(name, im, **kw):
        p = os.path.join(folder, name)
        im.save(p, **kw)
        return p

    files = {
        "png_rgb": save("rgb.png", Image.fromarray(rgb)),
        "png_grey": save("grey.png", Image.fromarray(rgb[..., 0])),
        "png_rgba": save("rgba.png", Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA")),
        "png_la": save("la.png", Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 1]]), "LA")),
        "png_palette": save("palette.png", Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=37)),
        "png_1bit": save("bilevel.png", Image.fromarray(rgb[..., 0] > 127)),
        "png_interlaced": save("interlaced.png", Image.fromarray(rgb), interlace=1),
        "jpeg_rgb": save("rgb.jpg", Image.fromarray(smooth), quality=90),
        "jpeg_grey": save("grey.jpg", Image.fromarray(smooth[..., 0]), quality=90),
        "jpeg_progressive": save("progressive.jpg", Image.fromarray(smooth), quality=85, progressive=True),
        "jpeg_444": save("s444.jpg", Image.fromarray(smooth), quality=95, subsampling=0),
        "jpeg_cmyk": save("cmyk.jpg", Image.fromarray(smooth).convert("CMYK"), quality=90),
    }
    pal = rgb.reshape(-1, 3)[:16].reshape(-1)
    trns_palette = bytes(range(0, 256, 16))
    hand = [
        ("png_grey16", "grey16.png", (rng.integers(0, 65536, (h, w), dtype=np.uint16)
                                      * (rng.random((h, w)) < 0.5)).astype(np.uint16), 0, 16, None, None),
        ("png_rgb16", "rgb16.png", rng.integers(0, 65536, (h, w, 3)), 2, 16, None, None),
        ("png_rgba16", "rgba16.png", rng.integers(0, 65536, (h, w, 4)), 6, 16, None, None),
        ("png_la16", "la16.png", rng.integers(0, 65536, (h, w, 2)), 4, 16, None, None),
        ("png_grey2", "grey2.png", rng.integers(0, 4, (h, w)), 0, 2, None, None),
        ("png_grey4", "grey4.png", rng.integers(0, 16, (h, w)), 0, 4, None, None),
        ("png_palette4_trns", "pal4.png", rng.integers(0, 16, (h, w)), 3, 4, pal, trns_palette),
        ("png_grey_trns", "grey_trns.png", rng.integers(0, 256, (h, w)), 0, 8, None, b"\0\x07"),
        ("png_rgb16_interlaced", "rgb16i.png", rng.integers(0, 65536, (h, w, 3)), 2, 16, None, None),
    ]
    for name, fname, arr, colour, depth, palette, trns in hand:
        p = os.path.join(folder, fname)
        png_by_hand(p, arr, colour, depth, palette, trns, interlace=name.endswith("interlaced"))
        files[name] = p
    for name, p in files.items():
        cases.decode(name, p)
    for name in ("png_grey", "png_1bit", "png_grey2", "png_grey4", "jpeg_grey"):
        cases.decode(name + ".labels", files[name], mode="labels")

    # EXIF orientation: each of 1..8 in a JPEG and in a PNG eXIf chunk, read
    # with and without exif_transpose.
    for o in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = o
        pj = save(f"exif{o}.jpg", Image.fromarray(smooth[:30, :44]), quality=92, exif=exif.tobytes())
        pp = save(f"exif{o}.png", Image.fromarray(rgb[:13, :21]), exif=exif.tobytes())
        for p, kind in ((pj, "jpeg"), (pp, "png")):
            cases.decode(f"exif{o}_{kind}", p, exif=1)
            cases.decode(f"exif{o}_{kind}.raw", p, exif=0)

    # Resizes of a small picture: up, down, mixed, to one pixel, odd sizes.
    for size in ((53, 37), (16, 11), (100, 80), (7, 90), (1, 1), (131, 5), (480, 480)):
        cases.resize(f"rgb", files["png_rgb"], size)
        cases.resize(f"grey", files["png_grey"], size, mode="labels")
    cases.preprocess("smooth", files["jpeg_rgb"], 64, 48)


def photos(cases, shared):
    data = os.path.join(shared, "data")
    if not os.path.isdir(data):
        print(f"skipped: {data} not found (the shared photos sit beside the checkout as ../shared)")
        return 77
    pick = lambda sub, n: [os.path.join(data, sub, f) for f in sorted(os.listdir(os.path.join(data, sub)))[:n]]
    photos = (pick("coco/val2017", 4) + pick("bsds500/images/val", 2) + pick("camvid/images", 1)
              + pick("extras/primaps_demo_examples", 2) + pick("coco_panoptic_sample/sample_data/panoptic_examples", 1))
    labels = pick("camvid/labels", 2)
    for p in photos:
        name = os.path.basename(p)
        cases.decode(name, p)
        w, h = Image.open(p).size
        # MaskCut's 480x480 Lanczos, UnSAM's 256x256 crops, odd up/down sizes.
        for size in ((480, 480), (256, 256), (w * 37 // 100 + 1, h * 153 // 100)):
            cases.resize(name, p, size)
        cases.preprocess(name, p, 320, 320)
    for p in labels:
        name = os.path.basename(p)
        cases.decode(name + ".labels", p, mode="labels")
        w, h = Image.open(p).size
        cases.resize(name + ".labels", p, (w // 3, h // 3), mode="labels")
        cases.resize(name + ".labels", p, (w * 2 + 1, h * 2 - 1), mode="labels")
    return 0


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("formats", "photos"):
        print(__doc__)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        cases = Cases(folder)
        if sys.argv[1] == "formats":
            formats(cases, folder)
        elif photos(cases, sys.argv[2]) == 77:
            return 77
        return cases.run(sys.argv[3])


if __name__ == "__main__":
    sys.exit(main())
