"""useg eval coco against pycocotools on the shared COCO ground truth.

Result sets made here from the ground truth: perturbed masks, shifted boxes,
random masks, duplicate detections with tied scores, detections over crowd
regions, images left without detections, more than 100 detections per
image (so maxDets 100 and 1000 differ), results carrying both bbox and
segmentation (loadRes then takes areas from the boxes), and a ground truth
variant with extra crowd regions in uncompressed RLE. Every summary number,
AR@1000 included, must equal pycocotools' within 1e-6, class-aware and
class-agnostic, for segm and bbox.

usage: test_coco.py USEG SHARED_DIR WORK_DIR VENV_DIR
"""
import contextlib
import io
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refenv  # noqa: E402

USEG, SHARED, WORK, VENV = sys.argv[1:5]
ANN_DIR = os.path.join(SHARED, "data", "coco", "annotations")
if not os.path.isdir(ANN_DIR):
    refenv.skip("shared COCO data not found at " + ANN_DIR)
refenv.reexec_in_venv(VENV, ["pycocotools"])

import numpy as np  # noqa: E402
from pycocotools import mask as mu  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

TOL = 1e-6
MAX_DETS = [1, 10, 100, 1000]


def quiet(fn, *a):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*a)


def encode(m):
    r = mu.encode(np.asfortranarray(m.astype(np.uint8)))
    r["counts"] = r["counts"].decode()
    return r


def reference(gt_file, dt_file, iou_type, agnostic):
    def run():
        gt = COCO(gt_file)
        dt = gt.loadRes(dt_file)
        E = COCOeval(gt, dt, iou_type)
        E.params.useCats = 0 if agnostic else 1
        E.params.maxDets = list(MAX_DETS)
        E.evaluate()
        E.accumulate()
        E.summarize()
        # AR@1000 the way _summarize computes AR: mean of the defined recalls.
        r = E.eval["recall"][:, :, 0, MAX_DETS.index(1000)]
        return list(E.stats) + [float(np.mean(r[r > -1])) if (r > -1).any() else -1.0]
    return quiet(run)


def ours(gt_file, dt_file, iou_type, agnostic):
    out = os.path.join(WORK, "out.json")
    cmd = [USEG, "eval", "coco", "--gt", gt_file, "--results", dt_file, "--iou-type", iou_type,
           "--max-dets", ",".join(map(str, MAX_DETS)), "--json", out]
    if agnostic:
        cmd.append("--class-agnostic")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("useg failed (%d): %s" % (r.returncode, r.stderr))
    return [s["value"] for s in json.load(open(out))["summary"]]


def make_sets(gt_file, rng):
    gt = quiet(COCO, gt_file)
    img_ids = sorted(gt.getImgIds())
    cats = sorted(gt.getCatIds())
    masks = {}
    for a in gt.dataset["annotations"]:
        masks[a["id"]] = gt.annToMask(a)
    sets = {}

    def perturbed(a, shift=3):
        m = masks[a["id"]]
        dx, dy = rng.integers(-shift, shift + 1, size=2)
        m = np.roll(np.roll(m, dx, axis=1), dy, axis=0)
        if rng.random() < 0.3:  # erode or dilate one pixel by shifting-and
            m = m & np.roll(m, 1, axis=0) if rng.random() < 0.5 else m | np.roll(m, 1, axis=1)
        return m

    res = []
    for a in gt.dataset["annotations"]:
        res.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": float(rng.random()),
                    "segmentation": encode(perturbed(a))})
    sets["perturbed_masks"] = res

    # Boxes only, shifted and scaled; loadRes makes box polygons for segm.
    res = []
    for a in gt.dataset["annotations"]:
        x, y, w, h = a["bbox"]
        s = rng.uniform(0.8, 1.2)
        res.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": float(rng.random()),
                    "bbox": [x + rng.normal(0, 3), y + rng.normal(0, 3), w * s, h * s]})
    sets["shifted_boxes"] = res

    # Random rectangles and blobs, random categories, many per image on some.
    res = []
    for i, img in enumerate(img_ids):
        info = gt.imgs[img]
        H, W = info["height"], info["width"]
        n = 150 if i % 10 == 0 else int(rng.integers(0, 8))
        for _ in range(n):
            m = np.zeros((H, W), np.uint8)
            x0, y0 = rng.integers(0, W), rng.integers(0, H)
            m[y0:y0 + rng.integers(1, H // 2), x0:x0 + rng.integers(1, W // 2)] = 1
            res.append({"image_id": img, "category_id": int(rng.choice(cats)),
                        "score": float(np.round(rng.random(), 1)), "segmentation": encode(m)})
    sets["random_masks"] = res

    # Duplicates: each object twice with the same (quantised) score; crowd
    # regions get detections of their own; every third image has none.
    res = []
    for a in gt.dataset["annotations"]:
        if gt.imgs[a["image_id"]]["id"] % 3 == 0:
            continue
        sc = float(np.round(rng.random(), 1))
        seg = encode(perturbed(a, 1))
        n = 3 if a.get("iscrowd") else 2
        for _ in range(n):
            res.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": sc,
                        "segmentation": seg})
    sets["duplicates_crowd_gaps"] = res

    # Both bbox and segmentation (detectron2 style): areas come from boxes.
    res = []
    for a in gt.dataset["annotations"]:
        m = perturbed(a)
        r = encode(m)
        res.append({"image_id": a["image_id"], "category_id": a["category_id"], "score": float(rng.random()),
                    "bbox": [float(v) for v in mu.toBbox(r)], "segmentation": r})
    sets["bbox_and_segm"] = res
    return gt, sets


def crowd_variant(gt, path, rng):
    """Ground truth with every fifth non-crowd object turned into a crowd
    region stored as uncompressed RLE."""
    d = json.loads(json.dumps(gt.dataset))
    for i, a in enumerate(d["annotations"]):
        if i % 5 == 0 and not a["iscrowd"]:
            m = gt.annToMask(gt.anns[a["id"]])
            flat = m.flatten(order="F")
            change = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
            counts = np.diff(np.concatenate([[0], change]))
            a["segmentation"] = {"size": [int(m.shape[0]), int(m.shape[1])], "counts": [int(c) for c in counts]}
            a["iscrowd"] = 1
    json.dump(d, open(path, "w"))


def main():
    os.makedirs(WORK, exist_ok=True)
    rng = np.random.default_rng(12345)
    failures, checked, worst = [], 0, 0.0
    cases = []
    for split in ["val2017", "train2017"]:
        gt_file = os.path.join(ANN_DIR, "instances_%s.json" % split)
        gt, sets = make_sets(gt_file, rng)
        crowd_file = os.path.join(WORK, "crowd_%s.json" % split)
        crowd_variant(gt, crowd_file, rng)
        for name, res in sets.items():
            f = os.path.join(WORK, "%s_%s.json" % (split, name))
            json.dump(res, open(f, "w"))
            cases.append((split + "/" + name, gt_file, f))
            if name in ("perturbed_masks", "duplicates_crowd_gaps"):
                cases.append((split + "/" + name + "+crowd_gt", crowd_file, f))
    for label, gt_file, dt_file in cases:
        for iou in ["segm", "bbox"]:
            for agn in [False, True]:
                ref = reference(gt_file, dt_file, iou, agn)
                got = ours(gt_file, dt_file, iou, agn)
                diff = max(abs(a - b) for a, b in zip(ref, got)) if len(ref) == len(got) else float("inf")
                worst = max(worst, diff)
                checked += 1
                tag = "%s %s %s" % (label, iou, "agnostic" if agn else "class-aware")
                if diff > TOL:
                    failures.append("%s: max |diff| %.3g\n  ref  %s\n  useg %s" % (tag, diff, ref, got))
                print("%-60s max|diff| %.2e  AP %.4f AR1000 %.4f" % (tag, diff, got[0], got[-1]))
    print("%d evaluations compared, worst difference %.3g" % (checked, worst))
    if failures:
        print("FAILED:\n" + "\n".join(failures))
        sys.exit(1)


main()
