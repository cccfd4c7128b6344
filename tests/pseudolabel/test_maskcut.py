#!/usr/bin/env python3
"""MaskCut's image-level chain against the NumPy/SciPy/pydensecrf reference.

Usage: test_maskcut.py TEST_MASKCUT_BINARY BUILD_ROOT SHARED_DATA_DIR

Cases: shared BSDS500 photos (three at 30 x 30 patches of 16 px, one at
MaskCut's 60 x 60 patches of 8 px) and a synthetic scene, each with its
original size, its 480 x 480 Lanczos working image and photo features
(maskcut_reference.photo_features) as the "same features" both sides get.
  - post: steps 12-17 (upsampling, disjointness, CRF, fill holes, IoU check,
    resize to the original size, threshold, empty masks dropped) of
    useg_maskcut_postprocess vs maskcut_reference.image_masks, fed the same
    patch masks (the reference chain's): the same masks kept, from the same
    cuts, per-mask IoU >= 0.99; with and without the CRF;
  - chain: useg_maskcut + useg_maskcut_postprocess vs maskcut_reference's
    maskcut + image_masks from the same features, both sign conventions on
    one photo: the same, end to end;
  - rle: useg_annotation_append's segmentation, area and bbox vs
    pycocotools' encode, area and toBbox of the same masks (exact).
The reference runs in a virtual environment with pydensecrf2 and pycocotools
(tests/pseudolabel/densecrf_venv.py); exits 77 when they cannot be
installed or the shared photos are absent.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "eval"))
MIN_IOU = 0.99
PHOTOS = 3


def reexec_in_venv(build_root):
    if os.environ.get("USEG_IN_MASKCUT_VENV"):
        return
    import densecrf_venv
    import refenv
    py = densecrf_venv.python(build_root)
    if py is None:
        print("skipped: pydensecrf2 unavailable (see above)")
        sys.exit(77)
    refenv.ensure_venv(os.path.join(build_root, "pydensecrf-venv"), ["pycocotools"])
    os.environ["USEG_IN_MASKCUT_VENV"] = "1"
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


class Runner:
    def __init__(self, binary, folder):
        self.binary, self.folder, self.count = binary, folder, 0

    def __call__(self, mode, *args):
        """test_maskcut MODE ARGS...: arrays are saved as .npy; returns (masks, source)."""
        paths = []
        for a in args:
            if isinstance(a, np.ndarray):
                self.count += 1
                paths.append(os.path.join(self.folder, f"in{self.count}.npy"))
                np.save(paths[-1], np.ascontiguousarray(a))
            else:
                paths.append(str(a))
        out = [os.path.join(self.folder, n) for n in ("out.npy", "source.npy")]
        r = subprocess.run([self.binary, mode, *paths, *out], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"test_maskcut {mode} failed: {r.stdout}{r.stderr}")
        return np.load(out[0]).astype(bool), np.load(out[1])


def iou(a, b):
    union = np.logical_or(a, b).sum()
    return np.logical_and(a, b).sum() / union if union else 1.0


def compare(what, ours, source, theirs):
    """Same kept masks from the same cuts, IoU >= MIN_IOU each; returns failures."""
    ious = [iou(ours[k], theirs[k][1]) for k in range(min(len(ours), len(theirs)))]
    same = len(ours) == len(theirs) and list(source) == [t for t, _, _ in theirs]
    ok = same and all(v >= MIN_IOU for v in ious)
    print(f"{'ok  ' if ok else 'FAIL'} {what}: {len(ours)} masks (reference {len(theirs)}), cuts {list(source)} "
          f"(reference {[t for t, _, _ in theirs]}), IoU {', '.join(f'{v:.6f}' for v in ious) or '-'}")
    return 0 if ok else 1


def cases(shared):
    """(name, original (H, W, 3) u8, working image (480, 480, 3) u8, features, grid)."""
    from PIL import Image
    import maskcut_reference as ref
    import test_crf
    folder = os.path.join(shared, "bsds500", "images", "val")
    names = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))
    picks = [names[i * (len(names) - 1) // PHOTOS] for i in range(PHOTOS + 1)]
    with tempfile.TemporaryDirectory() as tmp:
        scene = test_crf.scene(np.random.default_rng(3), 157, 203)
        scene_path = os.path.join(tmp, "scene.png")
        Image.fromarray(scene).save(scene_path)
        items = [(n, os.path.join(folder, n), 60 if i == PHOTOS else 30) for i, n in enumerate(picks)]
        for name, path, grid in items + [("synthetic", scene_path, 30)]:
            im = Image.open(path).convert("RGB")
            work = np.asarray(im.resize((480, 480), Image.LANCZOS))
            yield name, np.asarray(im), work, ref.photo_features(path, grid), grid


def test_rle(run, masks):
    from pycocotools import mask as mask_util
    path = os.path.join(run.folder, "anns.json")
    np.save(os.path.join(run.folder, "masks.npy"), masks.astype(np.uint8))
    subprocess.run([run.binary, "rle", os.path.join(run.folder, "masks.npy"), path], check=True)
    ours = json.load(open(path))
    bad = 0
    nonempty = [m for m in masks if m.any()]
    for m, a in zip(nonempty, ours):
        rle = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))
        ok = (a["segmentation"]["counts"] == rle["counts"].decode() and a["segmentation"]["size"] == rle["size"]
              and a["area"] == int(mask_util.area(rle)) and a["bbox"] == list(mask_util.toBbox(rle)))
        bad += not ok
    bad += len(ours) != len(nonempty)
    print(f"{'ok  ' if not bad else 'FAIL'} rle: {len(ours)} annotations vs pycocotools encode/area/toBbox "
          f"({len(masks) - len(nonempty)} empty masks skipped)")
    return bad


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    binary, build_root, shared = sys.argv[1:]
    if not os.path.isdir(os.path.join(shared, "bsds500", "images", "val")):
        print(f"skipped: no BSDS500 photos under {shared}")
        return 77
    reexec_in_venv(build_root)
    import maskcut_reference as ref
    failures, all_masks = 0, []
    with tempfile.TemporaryDirectory() as folder:
        run = Runner(binary, folder)
        for k, (name, img, work, feats, grid) in enumerate(cases(shared)):
            H, W = img.shape[:2]
            signs = ("peak_positive", "peak_negative") if k == 0 else ("peak_positive",)
            for sign in signs:
                patch, _ = ref.maskcut(feats, sign=sign)
                theirs = ref.image_masks(work, patch, H, W)
                ours, source = run("chain", "pos" if sign == "peak_positive" else "neg", H, W, work, feats)
                failures += compare(f"chain {name} {grid}x{grid} {sign}", ours, source, theirs)
                if sign != "peak_positive":
                    continue
                ours, source = run("post", 1, H, W, work, patch.astype(np.uint8))
                failures += compare(f"post  {name} {grid}x{grid} CRF", ours, source, theirs)
                all_masks += [m for _, m, _ in theirs]
                ours, source = run("post", 0, H, W, work, patch.astype(np.uint8))
                failures += compare(f"post  {name} {grid}x{grid} no CRF", ours, source,
                                    ref.image_masks(work, patch, H, W, crf=False))
        # RLE on same-size masks: the kept masks of the first photo plus edge cases.
        first = [m for m in all_masks if m.shape == all_masks[0].shape]
        edge = np.zeros((4,) + first[0].shape, bool)
        edge[1, :, -1] = True             # last column only
        edge[2] = True                    # everything
        edge[3, 0, 0] = edge[3, -1, -1] = True
        failures += test_rle(run, np.concatenate([np.array(first), edge]))
    print(f"maskcut image-level chain vs reference: {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
