#!/usr/bin/python3
"""Mask quality of UnSAM's pseudo-labels (issue #7): divide alone, divide +
conquer, and two simple baselines, scored by the same evaluator.

usage: quality_unsam.py USEG SHARED_DIR WORK_DIR [--unsam-useg PATH]
         [--datasets coco,bsds] [--methods LIST] [--limit N] [--report FILE.md] [--fresh]

Every method's masks become a COCO results list ({image_id, category_id 1,
segmentation as compressed RLE, score}) and are scored by
`useg eval coco --class-agnostic --max-dets 1,10,100,1000` (pycocotools'
COCOeval rules; AP is at maxDets 100). Reported per dataset and method: AP,
AR@100, AR@1000, masks per image and wall seconds per image (the whole
command over the images it labelled: decoding, features, cuts, CRF, RLE and
JSON included; this shared 2-core machine makes them noisy).

Ground truth
* COCO: ../shared/data/coco/annotations/instances_val2017.json as it is
  (129 images, 80 categories pooled into one by --class-agnostic; crowd
  regions ignored as COCOeval does).
* BSDS500 val (100 images, 4 to 8 human segmentations each, 5 or more for
  every image): bsds_gt_sets(). Each annotator's segmentation is a partition
  of the image; pooling the segments of all annotators would list the same
  object up to 8 times, and COCOeval matches one detection to one ground
  truth, so a method would need near-duplicates to reach the recall of one
  partition. Instead annotator k (k = 0..4, in the .mat file's order) forms
  ground-truth set k: one instance per label of its label map (labels 1..n,
  every segment kept, whatever its size or connectivity). Each method is
  scored against the five sets and the five numbers averaged with equal
  weight. The sixth to eighth annotators of the 31 images that have them are
  not used, so that every set covers all 100 images.

Methods
* maskcut: `useg maskcut` with its defaults (weights-free backbone, 3 cuts,
  CRF) -- UnSAM's divide stage run alone. Its masks all score 1.0 (MaskCut
  has no confidence); ties keep the file's order (the cut order), as
  COCOeval's stable sort does.
* unsam-crf, unsam-none, unsam-crf-whole, unsam-none-whole: `useg unsam`
  with --refine crf|none, with and without --whole-image, other options at
  their defaults; scored with the "score" it writes (1.0 where absent).
  From the same output, derived at no extra cost: "/L0" keeps the level-0
  (divide) masks only, "/L1+" the conquer masks only; they show where the
  recall of divide + conquer comes from.
* grid: a regular grid of near-square cells at scales g = 1, 2, 3, 4, 6, 8,
  12, 16 rows (round(g W / H) columns, at least 1; cell edges at rounded
  multiples of H/g and W/cols): 703 cells on a 4:3 image, capped at 1000.
  Score 1 / (1 + scale index): coarse cells first, raster order within a
  scale; so AR@100 sees the coarse scales and AR@1000 all of them.
* otsu: the grey image thresholded by Otsu's method; the two classes
  (above / at most the threshold) as whole masks, then every 8-connected
  component of either class with at least MIN_COMPONENT pixels that is not
  already one of the two; score = the mask's share of the image (largest
  first), capped at 1000.

Unknown methods or a `useg` without an `unsam` command: those rows are
reported as missing, never silently dropped. Outputs of `useg` runs are kept
in WORK_DIR and reused (with their timing) when the same command is run
again; --fresh recomputes. --limit N keeps the first N images of each
dataset (sorted by id), for a quick check.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import scipy.io
import scipy.ndimage
from PIL import Image

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests"))
import coco_rle  # noqa: E402

MAX_DETS = "1,10,100,1000"
BSDS_ANNOTATORS = 5
GRID_ROWS = (1, 2, 3, 4, 6, 8, 12, 16)
MAX_MASKS = 1000
MIN_COMPONENT = 16
UNSAM_VARIANTS = {
    "unsam-crf": ["--refine", "crf"],
    "unsam-none": ["--refine", "none"],
    "unsam-crf-whole": ["--refine", "crf", "--whole-image"],
    "unsam-none-whole": ["--refine", "none", "--whole-image"],
}
ALL_METHODS = ["maskcut"] + list(UNSAM_VARIANTS) + ["grid", "otsu"]


# ---------------------------------------------------------------- RLE

def rle_encode(mask):
    """COCO RLE object of a (H, W) bool mask (tests/coco_rle.py's encoder)."""
    return {"size": list(mask.shape), "counts": coco_rle.encode(mask)}


def bbox_of(mask):
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return [0, 0, 0, 0]
    return [int(xs[0]), int(ys[0]), int(xs[-1] - xs[0] + 1), int(ys[-1] - ys[0] + 1)]


# ---------------------------------------------------------------- ground truth

def subset(gt, limit):
    """gt with only its first `limit` images (sorted by id) and their annotations."""
    if not limit:
        return gt
    images = sorted(gt["images"], key=lambda im: im["id"])[:limit]
    keep = {im["id"] for im in images}
    return dict(gt, images=images, annotations=[a for a in gt["annotations"] if a["image_id"] in keep])


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def coco_gt_sets(shared, work, limit):
    gt = json.load(open(os.path.join(shared, "data", "coco", "annotations", "instances_val2017.json")))
    path = os.path.join(work, "coco_gt.json")
    write_json(path, subset(gt, limit))
    return [path]


def bsds_gt_sets(shared, work, limit):
    """One COCO instances file per annotator k < BSDS_ANNOTATORS (see the
    header): image id = the file's number, one annotation per label of
    annotator k's label map. Returns the list of paths."""
    gt_dir = os.path.join(shared, "data", "bsds500", "groundTruth", "val")
    names = sorted(f[:-4] for f in os.listdir(gt_dir) if f.endswith(".mat"))
    if limit:
        names = names[:limit]
    sets = [{"images": [], "annotations": [], "categories": [{"id": 1, "name": "segment"}]}
            for _ in range(BSDS_ANNOTATORS)]
    for name in names:
        cells = scipy.io.loadmat(os.path.join(gt_dir, name + ".mat"))["groundTruth"][0]
        if len(cells) < BSDS_ANNOTATORS:
            sys.exit("%s.mat has %d segmentations, fewer than %d" % (name, len(cells), BSDS_ANNOTATORS))
        for k, s in enumerate(sets):
            labels = cells[k]["Segmentation"][0, 0]  # (H, W) uint16, labels 1..n
            h, w = labels.shape
            s["images"].append({"id": int(name), "file_name": name + ".jpg", "height": h, "width": w})
            for label in range(1, int(labels.max()) + 1):
                m = labels == label
                area = int(m.sum())
                if area == 0:
                    continue
                s["annotations"].append({"id": len(s["annotations"]) + 1, "image_id": int(name),
                                         "category_id": 1, "segmentation": rle_encode(m), "area": area,
                                         "bbox": bbox_of(m), "iscrowd": 0})
    paths = []
    for k, s in enumerate(sets):
        paths.append(os.path.join(work, "bsds_gt_annotator%d.json" % k))
        write_json(paths[-1], s)
    return paths


DATASETS = {
    "coco": (coco_gt_sets, os.path.join("data", "coco", "val2017")),
    "bsds": (bsds_gt_sets, os.path.join("data", "bsds500", "images", "val")),
}


# ---------------------------------------------------------------- methods

def run_cached(cmd, out, fresh):
    """Run `cmd` (which writes `out`) unless `out` and its timing sidecar from
    the same command exist; return the wall seconds of the run that made it."""
    side = out + ".run.json"
    if not fresh and os.path.exists(out) and os.path.exists(side):
        rec = json.load(open(side))
        if rec["cmd"] == cmd:
            print("  reused %s (%.1f s when made)" % (os.path.basename(out), rec["seconds"]), flush=True)
            return rec["seconds"]
    print("  $ " + " ".join(cmd), flush=True)
    t = time.monotonic()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seconds = time.monotonic() - t
    if r.returncode != 0:
        raise RuntimeError("exit %d: %s\n%s" % (r.returncode, " ".join(cmd), r.stdout[-2000:]))
    write_json(side, {"cmd": cmd, "seconds": seconds})
    return seconds


def to_results(instances_file, gt):
    """COCO results list of a pseudo-label instances file, image ids mapped
    through file_name to the ground truth's; each result keeps "level"."""
    inst = json.load(open(instances_file))
    ids = {im["file_name"]: im["id"] for im in gt["images"]}
    local = {im["id"]: ids[im["file_name"]] for im in inst["images"]}
    return [{"image_id": local[a["image_id"]], "category_id": 1, "segmentation": a["segmentation"],
             "score": float(a.get("score", 1.0)), "level": a.get("level", 0)}
            for a in inst["annotations"]]


def useg_method(useg, args, gt_path, image_root, out, fresh):
    """`useg ARGS --coco GT --image-root ROOT --out OUT` -> (results, seconds)."""
    cmd = [useg] + args + ["--coco", gt_path, "--image-root", image_root, "--out", out]
    seconds = run_cached(cmd, out, fresh)
    return to_results(out, json.load(open(gt_path))), seconds


def grid_masks(h, w):
    """(mask, score) of the grid baseline (see the header)."""
    out = []
    for s, rows in enumerate(GRID_ROWS):
        cols = max(1, round(rows * w / h))
        ye = np.round(np.linspace(0, h, rows + 1)).astype(int)
        xe = np.round(np.linspace(0, w, cols + 1)).astype(int)
        for i in range(rows):
            for j in range(cols):
                if ye[i] == ye[i + 1] or xe[j] == xe[j + 1]:
                    continue
                m = np.zeros((h, w), bool)
                m[ye[i]:ye[i + 1], xe[j]:xe[j + 1]] = True
                out.append((m, 1.0 / (1 + s)))
    return out[:MAX_MASKS]


def otsu_threshold(grey):
    """Otsu's threshold of a uint8 image: the t maximising the between-class
    variance of {<= t} and {> t} (first such t on ties)."""
    hist = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    p = hist / hist.sum()
    w0 = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    w1 = 1.0 - w0
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mu[-1] * w0 - mu) ** 2 / (w0 * w1)
    between[~np.isfinite(between)] = -1.0
    return int(np.argmax(between))


def otsu_masks(h, w, grey):
    t = otsu_threshold(grey)
    out = []
    for cls in (grey > t, grey <= t):
        if cls.any():
            out.append(cls)
    for cls in list(out):
        lab, n = scipy.ndimage.label(cls, structure=np.ones((3, 3), int))
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        for c in range(1, n + 1):
            if sizes[c] >= MIN_COMPONENT and sizes[c] < cls.sum():
                out.append(lab == c)
    out.sort(key=lambda m: -int(m.sum()))  # stable: classes before their equal-area parts
    return [(m, float(m.sum()) / (h * w)) for m in out[:MAX_MASKS]]


def python_method(kind, gt_path, image_root):
    """The grid or Otsu baseline over the images of gt_path -> (results, seconds)."""
    gt = json.load(open(gt_path))
    t = time.monotonic()
    results = []
    for im in gt["images"]:
        h, w = im["height"], im["width"]
        if kind == "grid":
            masks = grid_masks(h, w)
        else:
            grey = np.asarray(Image.open(os.path.join(image_root, im["file_name"])).convert("L"))
            if grey.shape != (h, w):
                raise RuntimeError("%s is %s, the ground truth says %dx%d" % (im["file_name"], grey.shape, h, w))
            masks = otsu_masks(h, w, grey)
        results += [{"image_id": im["id"], "category_id": 1, "segmentation": rle_encode(m), "score": s}
                    for m, s in masks]
    return results, time.monotonic() - t


# ---------------------------------------------------------------- evaluation

def evaluate(useg, gt_paths, results, work, tag):
    """Mean over the ground-truth sets of `useg eval coco`'s stats."""
    res_path = os.path.join(work, tag + ".results.json")
    write_json(res_path, [{k: v for k, v in r.items() if k != "level"} for r in results])
    stats = []
    for i, gt in enumerate(gt_paths):
        js = os.path.join(work, "%s.eval%d.json" % (tag, i))
        r = subprocess.run([useg, "eval", "coco", "--gt", gt, "--results", res_path, "--class-agnostic",
                            "--max-dets", MAX_DETS, "--json", js], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            raise RuntimeError("useg eval coco failed on %s:\n%s" % (tag, r.stdout[-2000:]))
        stats.append(json.load(open(js))["stats"])
    return {k: float(np.mean([s[k] for s in stats])) for k in stats[0]}


def has_unsam(useg):
    return subprocess.run([useg, "unsam", "--help"], capture_output=True).returncode == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("useg")
    ap.add_argument("shared")
    ap.add_argument("work")
    ap.add_argument("--unsam-useg", help="useg binary with the unsam command (default: USEG)")
    ap.add_argument("--datasets", default="coco,bsds")
    ap.add_argument("--methods", default=",".join(ALL_METHODS))
    ap.add_argument("--limit", type=int, default=0, help="first N images of each dataset (0: all)")
    ap.add_argument("--report", help="also write the table as Markdown to this file")
    ap.add_argument("--fresh", action="store_true", help="recompute outputs kept in WORK")
    a = ap.parse_args()
    unsam_useg = a.unsam_useg or a.useg
    if not os.path.isdir(os.path.join(a.shared, "data")):
        print("SKIP: no shared data at " + os.path.join(a.shared, "data"), file=sys.stderr)
        sys.exit(77)
    os.makedirs(a.work, exist_ok=True)
    methods = a.methods.split(",")
    for m in methods:
        if m not in ALL_METHODS:
            ap.error("unknown method %s (known: %s)" % (m, ", ".join(ALL_METHODS)))
    unsam_ok = any(m in UNSAM_VARIANTS for m in methods) and has_unsam(unsam_useg)

    rows = []  # (dataset, method, n_images, stats or None, masks/image, seconds/image or None, note)
    for ds in a.datasets.split(","):
        make_gt, image_rel = DATASETS[ds]
        work = os.path.join(a.work, ds + ("_first%d" % a.limit if a.limit else ""))
        os.makedirs(work, exist_ok=True)
        gt_paths = make_gt(a.shared, work, a.limit)
        n_images = len(json.load(open(gt_paths[0]))["images"])
        image_root = os.path.join(a.shared, image_rel)
        print("%s: %d images, %d ground-truth set(s)" % (ds, n_images, len(gt_paths)), flush=True)

        def report(method, results, seconds, note=""):
            st = evaluate(a.useg, gt_paths, results, work, method.replace("/", "_"))
            rows.append((ds, method, n_images, st, len(results) / n_images,
                         None if seconds is None else seconds / n_images, note))
            print("  %-22s AP %.4f AR@100 %.4f AR@1000 %.4f  %.1f masks/image" %
                  (method, st["AP"], st["AR100"], st["AR1000"], len(results) / n_images), flush=True)

        for m in methods:
            if m == "maskcut":
                res, sec = useg_method(a.useg, ["maskcut"], gt_paths[0], image_root,
                                       os.path.join(work, "maskcut.json"), a.fresh)
                report(m, res, sec)
            elif m in UNSAM_VARIANTS:
                if not unsam_ok:
                    rows.append((ds, m, n_images, None, 0, None, "no `unsam` command in " + unsam_useg))
                    continue
                res, sec = useg_method(unsam_useg, ["unsam"] + UNSAM_VARIANTS[m], gt_paths[0], image_root,
                                       os.path.join(work, m + ".json"), a.fresh)
                report(m, res, sec)
                report(m + "/L0", [r for r in res if r["level"] == 0], None, "divide masks of the row above")
                report(m + "/L1+", [r for r in res if r["level"] > 0], None, "conquer masks of the row above")
            else:
                res, sec = python_method(m, gt_paths[0], image_root)
                report(m, res, sec)

    table = format_table(rows) + "\n\n" + conquer_verdicts(rows)
    print(table)
    if a.report:
        write_report(a, table, unsam_useg)


def conquer_verdicts(rows):
    """Issue #7's requirement, one line per dataset and unsam variant: does
    divide + conquer raise AR@1000 over divide alone (maskcut, and the
    variant's own level-0 masks)?"""
    ar = {(ds, m): st["AR1000"] for ds, m, _, st, _, _, _ in rows if st is not None}
    lines = []
    for (ds, m), v in ar.items():
        if m not in UNSAM_VARIANTS:
            continue
        for base in ("maskcut", m + "/L0"):
            if (ds, base) in ar:
                lines.append("- %s, %s: AR@1000 %.4f vs %s %.4f: %s" % (
                    ds, m, v, base, ar[(ds, base)], "raised" if v > ar[(ds, base)] else "NOT raised"))
    return "\n".join(lines)


def format_table(rows):
    lines = ["| dataset | method | images | AP | AR@100 | AR@1000 | masks/image | s/image | note |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for ds, m, n, st, mpi, spi, note in rows:
        if st is None:
            lines.append("| %s | %s | %d | - | - | - | - | - | %s |" % (ds, m, n, note))
        else:
            lines.append("| %s | %s | %d | %.4f | %.4f | %.4f | %.1f | %s | %s |" % (
                ds, m, n, st["AP"], st["AR100"], st["AR1000"], mpi, "-" if spi is None else "%.2f" % spi, note))
    return "\n".join(lines)


def git_commit(path):
    r = subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", path, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return r.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def write_report(a, table, unsam_useg):
    here = os.path.dirname(os.path.abspath(__file__))
    binary_dir = os.path.dirname(os.path.dirname(os.path.abspath(unsam_useg)))
    text = ["# UnSAM pseudo-label quality (issue #7)", "",
            "- date: %s" % datetime.date.today().isoformat(),
            "- device: %s, %d logical CPUs (shared machine; timings are noisy)" % (cpu_name(), os.cpu_count()),
            "- commit: %s (script and `useg`)" % git_commit(here),
            "- `useg unsam` binary: %s (tree at %s)" % (unsam_useg, git_commit(binary_dir)),
            "- command: `/usr/bin/python3 %s`" % " ".join(sys.argv),
            "- protocol: see the header of benchmarks/pseudolabel/quality_unsam.py (BSDS: mean over "
            "annotators 0..4, each annotator's segments one ground-truth set)",
            "", table, ""]
    with open(a.report, "w") as f:
        f.write("\n".join(text))
    print("wrote " + a.report)


if __name__ == "__main__":
    main()
