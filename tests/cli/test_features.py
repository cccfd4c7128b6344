#!/usr/bin/env python3
"""`useg features` end to end.

Usage: test_features.py USEG SHARED_DATA_DIR

- weights-free backbone on two shared photos plus a corrupt file: the photos
  are written, the corrupt file is reported and skipped (exit 1), the
  manifest is complete; a re-run keeps the existing files (resume);
- a small DINO ViT saved with torch.save (random weights, the reference
  architecture of tests/models/vit_reference.py): the keys and tokens files
  equal the PyTorch model's taps on the same image preprocessed with PIL
  (Lanczos to 224 x 224, ImageNet normalisation) to 1e-4 relative;
- usage and runtime errors give one line and exit 2 / 1.
Exits 77 when torch or the shared photos are missing.
"""
import json
import os
import shutil
import sys
import tempfile

try:
    import numpy as np
    import torch
    from PIL import Image
except ImportError as e:
    print(f"skipped: reference unavailable ({e})")
    sys.exit(77)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models"))
import vit_reference  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_check import check, failures  # noqa: E402
from cli_check import run as run_command  # noqa: E402

USEG, SHARED = sys.argv[1], sys.argv[2]
PHOTOS = os.path.join(SHARED, "bsds500", "images", "val")
if not os.path.isdir(PHOTOS):
    print(f"skipped: {PHOTOS} not found")
    sys.exit(77)


def run(args, expect):
    return run_command(USEG, "features", args, expect)


with tempfile.TemporaryDirectory() as tmp:
    images = os.path.join(tmp, "images")
    os.makedirs(images)
    names = sorted(f for f in os.listdir(PHOTOS) if f.endswith(".jpg"))[:2]
    for n in names:
        shutil.copy(os.path.join(PHOTOS, n), images)
    with open(os.path.join(images, "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")

    # Weights-free backbone, a corrupt file in the batch, then a resumed run.
    out = os.path.join(tmp, "hand")
    r = run(["--images", images, "--out", out], expect=1)
    check("broken.jpg" in r.stderr, "the corrupt image is named in the report")
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    check([i["image"] for i in manifest["images"]] == names, "manifest lists the written images")
    check(manifest["grid"] == [60, 60] and manifest["tap"] == "keys", "manifest grid and tap")
    f0 = os.path.join(out, os.path.splitext(names[0])[0] + ".npy")
    a = np.load(f0)
    check(a.shape == (60, 60, 16) and a.dtype == np.float32 and np.isfinite(a).all(), f"weights-free keys {a.shape}")
    mtime = os.stat(f0).st_mtime_ns
    r = run(["--images", images, "--out", out], expect=1)
    check("2 already present" in r.stdout and os.stat(f0).st_mtime_ns == mtime, "a re-run keeps finished files")
    check(not [f for f in os.listdir(out) if ".tmp" in f], "no temporary files left behind")

    # A small DINO ViT from a torch.save checkpoint against the PyTorch model.
    torch.manual_seed(0)
    model = vit_reference.ViT(dim=128, heads=2, patch=16, pos_grid=14, v2=False, depth=2).eval()
    vit_reference.randomise(model, torch.Generator().manual_seed(5))
    weights = os.path.join(tmp, "small_vit.pth")
    torch.save({"teacher": {"backbone." + k: v for k, v in model.state_dict().items()}}, weights)
    im = Image.open(os.path.join(images, names[0])).convert("RGB").resize((224, 224), Image.LANCZOS)
    x = (np.asarray(im, np.float32) / 255.0 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array(
        [0.229, 0.224, 0.225], np.float32)
    with torch.no_grad():
        taps = model(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)))
    for tap in ("keys", "tokens", "cls"):
        out = os.path.join(tmp, "vit_" + tap)
        run(["--images", images, "--out", out, "--weights", weights, "--size", "224", "--tap", tap], expect=1)
        ours = np.load(os.path.join(out, os.path.splitext(names[0])[0] + ".npy"))
        ref = taps[tap][0].numpy().reshape(ours.shape) if tap != "cls" else taps[tap][0].numpy()
        err = np.abs(ours - ref).max() / np.abs(ref).max()
        check(ours.shape == ref.shape and err <= 1e-4, f"ViT {tap} {ours.shape} vs torch: relative error {err:.2e}")

    # Usage and runtime errors.
    run(["--images", images], expect=2)
    run(["--images", images, "--out", out, "--tap", "queries"], expect=2)
    run(["--images", images, "--list", "x.txt", "--out", out], expect=2)
    r = run(["--images", os.path.join(tmp, "missing"), "--out", out], expect=1)
    check(r.stderr.count("\n") == 1, "a missing folder gives one line")
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    run(["--images", empty, "--out", out], expect=1)
    bad = os.path.join(tmp, "bad.pth")
    with open(bad, "wb") as f:
        f.write(b"PK\x03\x04 truncated")
    r = run(["--images", images, "--out", out, "--weights", bad], expect=1)
    check(r.stderr.count("\n") == 1 and "bad.pth" in r.stderr, "a corrupt checkpoint gives one line naming it")

print(f"features cli: {failures()} failed")
sys.exit(1 if failures() else 0)
