#!/usr/bin/env python3
"""Whole MaskCut per image: useg vs the reference chain in Python, same run.

usage: bench_maskcut.py BENCH_BINARY USEG BUILD_ROOT SOURCE_ROOT [--images N] [--reps R] [--threads T] [--quick]

Both sides run PAPERS.md 2.2 on the same N shared BSDS500 photos (default 3):
  features  Lanczos to 480 x 480, ImageNet normalisation, the last block's keys
  cut       3 normalized cuts of the 60 x 60 patch graph
  post      per cut: nearest upsampling, dense CRF, fill holes, IoU check,
            resize to the image, threshold, RLE (the reference's encode)
The reference is tests/models/vit_reference.py's PyTorch ViT (written from
PAPERS.md 1.1) for the features, maskcut_reference.maskcut (scipy.linalg.eigh
of D - W, D, LAPACK's sign) for the cuts and maskcut_reference.image_masks
(pydensecrf2, scipy.ndimage, PIL, pycocotools) for the post-processing, as
CutLER's maskcut.py runs them. useg is bench_maskcut (the stages of
useg_maskcut_image, median of R runs after a warm-up). Backbones: random
DINO ViT-S/8 and ViT-B/8 written with torch.save (--quick: ViT-S/8 only);
useg's weights-free backbone is timed too (it has no reference). Also
reported: the wall time of `useg maskcut` on the N images divided by N
(decoding, RLE, JSON parts and assembly, and the checkpoint load, included).
Every side runs with T threads
(default 1: torch.set_num_threads, OMP_NUM_THREADS, OPENBLAS_NUM_THREADS;
torch's own default on the 1-core, 2-thread test machine is 1). Reported: per
stage, the median over images; the ratio useg / reference of the totals.
pydensecrf2 and pycocotools come from the venv of tests/pseudolabel.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def reexec_in_venv(build_root, source_root, threads):
    if os.environ.get("USEG_IN_MASKCUT_VENV"):
        return
    # Before NumPy's OpenBLAS and our binaries start their thread pools.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    sys.path.insert(0, os.path.join(source_root, "tests", "eval"))
    import densecrf_venv
    import refenv
    py = densecrf_venv.python(build_root)
    if py is None:
        sys.exit(77)
    refenv.ensure_venv(os.path.join(build_root, "pydensecrf-venv"), ["pycocotools"])
    os.environ["USEG_IN_MASKCUT_VENV"] = "1"
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


# name: (dim, heads)
VITS = {"vit_small/8": (384, 6), "vit_base/8": (768, 12)}


def write_checkpoint(folder, name):
    import torch
    import vit_reference
    dim, heads = VITS[name]
    torch.manual_seed(0)
    model = vit_reference.ViT(dim=dim, heads=heads, patch=8, pos_grid=28, v2=False).eval()
    vit_reference.randomise(model, torch.Generator().manual_seed(1))
    path = os.path.join(folder, name.replace("/", "") + ".pth")
    torch.save(model.state_dict(), path)
    return model, path


def reference_image(model, path):
    """Stage times (s) of the Python chain on one image, and its mask count."""
    import torch
    from PIL import Image
    import maskcut_reference as ref
    t0 = time.perf_counter()
    im = Image.open(path).convert("RGB")
    W, H = im.size
    work = np.asarray(im.resize((480, 480), Image.LANCZOS))
    x = (work.astype(np.float32) / 255.0 - np.array([0.485, 0.456, 0.406], np.float32)) / np.array(
        [0.229, 0.224, 0.225], np.float32)
    with torch.no_grad():
        keys = model(torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None])))["keys"][0].numpy()
    t1 = time.perf_counter()
    masks, _ = ref.maskcut(keys.reshape(60, 60, -1), sign="lapack")
    t2 = time.perf_counter()
    kept = ref.image_masks(work, masks, H, W)
    t3 = time.perf_counter()
    return (t1 - t0, t2 - t1, t3 - t2, t3 - t0), len(kept)


def ours(binary, weights, reps, photos):
    r = subprocess.run([binary, weights, str(reps)] + photos, capture_output=True, text=True, check=True)
    rows = []
    for line in r.stdout.splitlines():
        f = dict(kv.split("=") for kv in line.split())
        rows.append(([float(f[k]) / 1e3 for k in ("features_ms", "cut_ms", "post_ms", "total_ms")], int(f["masks"])))
    return rows


def cli_seconds(useg, weights, photos, folder):
    """Wall time of `useg maskcut` over the photos (checkpoint load included)."""
    listing = os.path.join(folder, "photos.txt")
    with open(listing, "w") as f:
        f.write("\n".join(photos) + "\n")
    out = os.path.join(folder, "cli.json")
    args = [useg, "maskcut", "--list", listing, "--out", out] + (["--weights", weights] if weights != "-" else [])
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - t0


def row(name, times):
    med = [statistics.median(t[k] for t in times) for k in range(4)]
    return f"{name:<28} {med[0]:>9.2f} {med[1]:>9.2f} {med[2]:>9.2f} {med[3]:>9.2f}", med[3]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("useg")
    ap.add_argument("build_root")
    ap.add_argument("source_root")
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    for sub in (("tests", "pseudolabel"), ("tests", "models")):
        sys.path.insert(0, os.path.join(args.source_root, *sub))
    reexec_in_venv(args.build_root, args.source_root, args.threads)
    import torch
    torch.set_num_threads(args.threads)
    folder = os.path.join(args.source_root, "..", "shared", "data", "bsds500", "images", "val")
    if not os.path.isdir(folder):
        print(f"skipped: no photos in {folder}")
        return 77
    names = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))
    photos = [os.path.abspath(os.path.join(folder, names[i * len(names) // args.images])) for i in range(args.images)]
    print(f"{args.images} BSDS500 photos, {args.threads} thread(s) each side; seconds per image (median over images)")
    print(f"{'':<28} {'features':>9} {'cut':>9} {'post':>9} {'total':>9}")
    mine = ours(args.binary, "-", args.reps, photos)
    line, _ = row("useg weights-free/8", [t for t, _ in mine])
    print(line + f"   masks {[k for _, k in mine]}")
    with tempfile.TemporaryDirectory() as tmp:
        cli = cli_seconds(args.useg, "-", photos, tmp)
        print(f"{'  useg maskcut CLI':<28} {'':>29} {cli / len(photos):>9.2f}   (wall / image, whole command)")
        for name in (["vit_small/8"] if args.quick else list(VITS)):
            model, ckpt = write_checkpoint(tmp, name)
            mine = ours(args.binary, ckpt, args.reps, photos)
            line, t_ours = row(f"useg {name}", [t for t, _ in mine])
            print(line + f"   masks {[k for _, k in mine]}")
            cli = cli_seconds(args.useg, ckpt, photos, tmp)
            print(f"{'  useg maskcut CLI':<28} {'':>29} {cli / len(photos):>9.2f}   (wall / image, incl. loading)")
            theirs = [reference_image(model, p) for p in photos]
            line, t_ref = row(f"reference {name}", [t for t, _ in theirs])
            print(line + f"   masks {[k for _, k in theirs]}")
            print(f"{'  useg / reference':<28} {'':>29} {t_ours / t_ref:>9.3f}")
            os.remove(ckpt)
    return 0


if __name__ == "__main__":
    sys.exit(main())
