"""COCO segm evaluation time: useg vs pycocotools vs faster-coco-eval.

Scales the shared COCO ground truth (val2017 + train2017, 258 images) up by
replication to >= 5,000 images with fresh image and annotation ids, and
gives every image 100 detections (its objects' masks shifted by a few
pixels, then random rectangles), as compressed RLE. Each tool is timed end to
end on the same two files (load ground truth, load results, evaluate,
accumulate, summarize; class-aware, maxDets 1/10/100), in one run of this
script, as the median of --runs runs; all three summaries must agree.

usage: bench_coco.py USEG SHARED_DIR WORK_DIR VENV_DIR [--runs N] [--ref-runs N] [--images N]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "eval"))
import refenv  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("useg")
ap.add_argument("shared")
ap.add_argument("work")
ap.add_argument("venv")
ap.add_argument("--runs", type=int, default=3)
ap.add_argument("--ref-runs", type=int, default=3, help="runs of pycocotools (slow)")
ap.add_argument("--images", type=int, default=5000)
args = ap.parse_args()
refenv.reexec_in_venv(args.venv, ["pycocotools", "faster-coco-eval"])

import numpy as np  # noqa: E402
from pycocotools import mask as mu  # noqa: E402

REF_SCRIPT = r"""
import sys, time, io, contextlib, json
gt_file, dt_file, which = sys.argv[1:4]
t0 = time.perf_counter()
with contextlib.redirect_stdout(io.StringIO()):
    if which == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval as E
    else:
        from faster_coco_eval import COCO
        from faster_coco_eval import COCOeval_faster as E
    gt = COCO(gt_file)
    dt = gt.loadRes(dt_file)
    ev = E(gt, dt, "segm")
    ev.params.maxDets = [1, 10, 100]
    ev.evaluate(); ev.accumulate(); ev.summarize()
print(json.dumps({"seconds": time.perf_counter() - t0, "stats": [float(x) for x in ev.stats[:12]]}))
"""


def build(work):
    gt_out, dt_out = os.path.join(work, "gt_big.json"), os.path.join(work, "res_big.json")
    if os.path.exists(gt_out) and os.path.exists(dt_out):
        return gt_out, dt_out
    from pycocotools.coco import COCO
    import contextlib
    import io
    rng = np.random.default_rng(0)
    base = []
    for split in ["val2017", "train2017"]:
        with contextlib.redirect_stdout(io.StringIO()):
            base.append(COCO(os.path.join(args.shared, "data", "coco", "annotations", "instances_%s.json" % split)))
    cats = base[0].dataset["categories"]
    per_image = []  # (image, anns, 100 detections)
    for coco in base:
        cat_ids = sorted(coco.getCatIds())
        for img_id in sorted(coco.getImgIds()):
            img = coco.imgs[img_id]
            H, W = img["height"], img["width"]
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id]))
            dets = []
            for a in anns[:100]:
                m = np.roll(coco.annToMask(a), tuple(rng.integers(-4, 5, 2)), axis=(0, 1))
                dets.append((a["category_id"], m))
            while len(dets) < 100:
                m = np.zeros((H, W), np.uint8)
                y, x = rng.integers(0, H), rng.integers(0, W)
                m[y:y + rng.integers(2, H // 2), x:x + rng.integers(2, W // 2)] = 1
                dets.append((int(rng.choice(cat_ids)), m))
            enc = []
            for c, m in dets:
                r = mu.encode(np.asfortranarray(m))
                enc.append((c, r["counts"].decode(), float(rng.random())))
            per_image.append((img, anns, enc))
    reps = -(-args.images // len(per_image))
    images, annotations, results = [], [], []
    ann_id = 1
    for rep in range(reps):
        for k, (img, anns, enc) in enumerate(per_image):
            new_id = rep * 1000000 + k + 1
            images.append(dict(img, id=new_id))
            for a in anns:
                annotations.append(dict(a, id=ann_id, image_id=new_id))
                ann_id += 1
            for c, counts, score in enc:
                results.append({"image_id": new_id, "category_id": c, "score": score,
                                "segmentation": {"size": [img["height"], img["width"]], "counts": counts}})
    json.dump({"images": images, "annotations": annotations, "categories": cats}, open(gt_out, "w"))
    json.dump(results, open(dt_out, "w"))
    print("built %d images, %d ground-truth objects, %d detections" % (len(images), len(annotations), len(results)))
    return gt_out, dt_out


def time_useg(gt, dt):
    out = os.path.join(args.work, "useg_out.json")
    t0 = time.perf_counter()
    subprocess.run([args.useg, "eval", "coco", "--gt", gt, "--results", dt, "--max-dets", "1,10,100",
                    "--json", out], check=True, capture_output=True)
    secs = time.perf_counter() - t0
    return secs, [s["value"] for s in json.load(open(out))["summary"]][:12]


def time_ref(gt, dt, which):
    r = subprocess.run([sys.executable, "-c", REF_SCRIPT, gt, dt, which], check=True, capture_output=True, text=True)
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return d["seconds"], d["stats"]


def main():
    os.makedirs(args.work, exist_ok=True)
    gt, dt = build(args.work)
    tools = [("useg", args.runs, lambda: time_useg(gt, dt)),
             ("faster-coco-eval", args.runs, lambda: time_ref(gt, dt, "faster")),
             ("pycocotools", args.ref_runs, lambda: time_ref(gt, dt, "pycocotools"))]
    results = {}
    for name, runs, fn in tools:
        if runs < 1:
            continue
        times, stats = [], None
        for _ in range(runs):
            t, stats = fn()
            times.append(t)
        results[name] = (statistics.median(times), times, stats)
        print("%-17s median %7.2f s over %d runs %s" % (name, results[name][0], runs,
                                                      " ".join("%.2f" % t for t in times)), flush=True)
    if len(results) < 3:
        return
    ref = results["pycocotools"][2]
    for name in ["useg", "faster-coco-eval"]:
        d = max(abs(a - b) for a, b in zip(results[name][2], ref))
        print("%-17s max |stat - pycocotools| = %.3g" % (name, d))
    u = results["useg"][0]
    print("useg speed-up: %.1fx vs pycocotools, %.2fx vs faster-coco-eval" % (
        results["pycocotools"][0] / u, results["faster-coco-eval"][0] / u))
    print("stats (pycocotools):", " ".join("%.4f" % s for s in ref))


main()
