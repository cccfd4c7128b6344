#!/usr/bin/env python3
"""Regenerate the fuzzers' seed corpora in tests/fuzz/corpus/<target>/.

usage: make_corpus.py   (Debian's /usr/bin/python3 with torch, PIL, numpy)

Seeds are small valid inputs of each kind the parsers accept, so libFuzzer
starts from deep inside the formats: PNGs and JPEGs of every colour kind
(the first byte of an image seed holds the target's option bits), torch.save
archives (stored and deflated, protocols 2 and 4, a DINO-style nested
checkpoint with an argparse.Namespace), their data.pkl pickles, and
safetensors files.
"""
import argparse
import collections
import io
import os
import sys
import zipfile

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "data"))
sys.path.insert(0, os.path.join(HERE, "..", "models"))
from image_parity import png_by_hand  # noqa: E402
from checkpoints import safetensors_bytes  # noqa: E402


def put(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def images():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)

    def enc(im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        return b.getvalue()

    exif = Image.Exif()
    exif[0x0112] = 6
    seeds = {
        "rgb.png": enc(Image.fromarray(rgb), "PNG"),
        "grey.png": enc(Image.fromarray(rgb[..., 0]), "PNG"),
        "palette.png": enc(Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=8), "PNG"),
        "interlaced.png": enc(Image.fromarray(rgb), "PNG", interlace=1),
        "exif.png": enc(Image.fromarray(rgb), "PNG", exif=exif.tobytes()),
        "rgb.jpg": enc(Image.fromarray(np.repeat(np.repeat(rgb, 3, 0), 3, 1)), "JPEG", quality=50),
        "grey.jpg": enc(Image.fromarray(rgb[..., 1]), "JPEG", quality=50),
        "progressive.jpg": enc(Image.fromarray(rgb), "JPEG", quality=50, progressive=True),
        "cmyk.jpg": enc(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=50),
        "exif.jpg": enc(Image.fromarray(rgb), "JPEG", quality=50, exif=exif.tobytes()),
    }
    os.makedirs(os.path.join(HERE, "corpus"), exist_ok=True)
    for name, arr, colour, depth in (("rgb16.png", rng.integers(0, 65536, (3, 4, 3)), 2, 16),
                                     ("grey16.png", rng.integers(0, 65536, (3, 4)), 0, 16),
                                     ("grey2.png", rng.integers(0, 4, (3, 5)), 0, 2)):
        path = os.path.join(HERE, "corpus", name)
        png_by_hand(path, arr, colour, depth)
        with open(path, "rb") as f:
            seeds[name] = f.read()
        os.remove(path)
    for i, (name, data) in enumerate(sorted(seeds.items())):
        # Option bits: 1 = labels mode, 2 = EXIF transpose.
        put("image", name, bytes([i % 4]) + data)


def checkpoints():
    torch.manual_seed(0)
    sd = collections.OrderedDict()
    sd["w"] = torch.randn(2, 3)
    sd["h"] = torch.randn(3).half()
    sd["b"] = torch.randn(2).bfloat16()
    sd["t"] = torch.randn(3, 2).t()
    sd["p"] = torch.nn.Parameter(torch.randn(2))
    sd["i"] = torch.tensor([1, 2])
    nested = {"teacher": collections.OrderedDict([("backbone.cls_token", torch.randn(1, 1, 4))]),
              "epoch": 3, "args": argparse.Namespace(lr=0.1, arch="vit_small", crops=(0.4, 1.0), flag=None)}
    archives = {}
    for name, obj, kw in (("plain.pth", sd, {}), ("nested.pth", nested, {}), ("p4.pth", sd, {"pickle_protocol": 4})):
        b = io.BytesIO()
        torch.save(obj, b, **kw)
        archives[name] = b.getvalue()
    deflated = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archives["plain.pth"])) as zin, \
            zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    archives["deflated.pth"] = deflated.getvalue()
    for name, data in archives.items():
        put("zip", name, data)
        put("checkpoint", name, data)
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            pkl = [n for n in z.namelist() if n.endswith("data.pkl")][0]
            if name != "deflated.pth":  # the same pickle as plain.pth
                put("pickle", name.replace(".pth", ".pkl"), z.read(pkl))
    w = np.arange(6, dtype=np.float32)
    entries = [("w", "F32", (2, 3), w.tobytes()), ("h", "F16", (2,), np.ones(2, np.float16).tobytes()),
               ("i", "I64", (1,), np.int64(7).tobytes()), ("s", "F32", (), np.float32(2).tobytes())]
    st = safetensors_bytes(entries, metadata={"format": "pt"})
    put("safetensors", "small.safetensors", st)
    put("safetensors", "empty.safetensors", safetensors_bytes([]))
    put("checkpoint", "small.safetensors", st)


if __name__ == "__main__":
    images()
    checkpoints()
