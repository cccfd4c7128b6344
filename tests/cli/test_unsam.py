#!/usr/bin/env python3
"""`useg unsam` (and `useg merge` of its shards) end to end.

Usage: test_unsam.py USEG

On synthetic scenes with known objects (labelling.write_scenes; PNG and JPEG),
weights-free backbone, default settings plus --whole-image:
- the file is well formed: ids 1..K, every image listed, area and bbox agree
  with the decoded RLE, score 1.0 for level 0 and t / (T + 1) for level t,
  info records the settings and conquer_thresholds;
- the hierarchy: every parent_id names an annotation of the same image with
  level 0 or a higher level than the child's; a divide mask has none; most of
  a child's pixels (>= half) lie inside its parent;
- every object is found by some mask (IoU >= 0.8);
- resume after SIGKILL: no image redone, the final file identical byte for byte;
- shards 0/2 and 1/2 run with one OpenMP thread, merged by `useg merge`,
  equal the default-thread single run byte for byte (determinism across
  thread counts, parent_id rewritten through the merge);
- bad input: a corrupt image skipped and named (exit 1), a missing folder,
  bad option values (exit 2, one line), an output path that is a folder.
Exits 77 when numpy/PIL are missing.
"""
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import numpy as np
    import labelling
    from labelling import check, kill_after_parts, rle_decode, run, write_scenes
except ImportError as e:
    print(f"skipped: numpy/PIL unavailable ({e})")
    sys.exit(77)

labelling.USEG = sys.argv[1]
SEEDS = [0, 1, 3, 4]
MIN_IOU = 0.8


def unsam(args, expect, env=None):
    return run(args, expect, env=env, cmd="unsam")


def check_file(doc, truth):
    ids = [a["id"] for a in doc["annotations"]]
    check(ids == list(range(1, len(ids) + 1)), "annotation ids are 1..K in order")
    check([im["file_name"] for im in doc["images"]] == sorted(truth), "every image listed in order")
    T = len(doc["info"]["conquer_thresholds"])
    by_id = {a["id"]: a for a in doc["annotations"]}
    consistent = hierarchy = inside = True
    worst_inside, found = 1.0, True
    masks = {}
    for a in doc["annotations"]:
        im = doc["images"][a["image_id"]]
        m, whole = rle_decode(a["segmentation"]["counts"], im["height"], im["width"])
        masks[a["id"]] = m
        ys, xs = np.nonzero(m)
        box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
        want_score = 1.0 if a["level"] == 0 else a["level"] / (T + 1)
        consistent &= whole and a["area"] == int(m.sum()) and a["bbox"] == box and \
            abs(a["score"] - want_score) < 1e-12 and 0 <= a["level"] <= T and 0 <= a["refine_iou"] <= 1
    for a in doc["annotations"]:
        p = a["parent_id"]
        if a["level"] == 0:
            hierarchy &= p is None
            continue
        if p is None:
            continue
        q = by_id.get(p)
        hierarchy &= q is not None and q["image_id"] == a["image_id"] and (q["level"] == 0 or q["level"] > a["level"])
        if q is not None:
            frac = np.logical_and(masks[a["id"]], masks[p]).sum() / masks[a["id"]].sum()
            worst_inside = min(worst_inside, frac)
            inside &= frac >= 0.5
    for im in doc["images"]:
        ms = [masks[a["id"]] for a in doc["annotations"] if a["image_id"] == im["id"]]
        for g in truth[im["file_name"]]:
            found &= max([np.logical_and(g, m).sum() / np.logical_or(g, m).sum() for m in ms] or [0]) >= MIN_IOU
    levels = np.bincount([a["level"] for a in doc["annotations"]], minlength=T + 1)
    print(f"     {len(ids)} masks, per level {levels.tolist()}, "
          f"{sum(a['parent_id'] is not None for a in doc['annotations'])} with a parent")
    check(consistent, "area, bbox, score (1 or t / (T + 1)), level, refine_iou agree with the masks")
    check(hierarchy, "every parent_id names a mask of the same image at level 0 or a coarser level")
    check(inside, f"children lie mostly inside their parents (worst {worst_inside:.2f})")
    check(found, f"every object is found by a mask with IoU >= {MIN_IOU}")


with tempfile.TemporaryDirectory() as tmp:
    images = os.path.join(tmp, "images")
    truth = write_scenes(images, SEEDS)
    base = ["--images", images, "--whole-image"]

    full = os.path.join(tmp, "full.json")
    t0 = time.time()
    unsam(base + ["--out", full], expect=0)
    print(f"     {len(SEEDS)} images in {time.time() - t0:.1f}s")
    doc = json.load(open(full))
    info = doc["info"]
    check(info["backbone"] == "handcrafted/8" and info["conquer_thresholds"] == [0.6, 0.5, 0.4, 0.3, 0.2, 0.1] and
          info["crop_size"] == 256 and info["crop_bgr"] is True and info["whole_image"] is True and
          info["refine"] == "crf" and info["n_masks"] == 3, "info block")
    check_file(doc, truth)
    full_bytes = open(full, "rb").read()

    # Resume after a kill.
    out = os.path.join(tmp, "resumed.json")
    killed = kill_after_parts(base + ["--out", out], out + ".parts", 2, cmd="unsam")
    check(killed and not os.path.exists(out), "a run killed after 2 images leaves no output file, only parts")
    r = unsam(base + ["--out", out, "--min-size", "8"], expect=1)
    check("min_size" in r.stderr and r.stderr.count("\n") == 1, "resuming with another --min-size is refused")
    r = unsam(base + ["--out", out], expect=0)
    done = int(r.stdout.split(" images labelled")[0])
    check(done <= len(SEEDS) - 2 and "resumed" in r.stdout, f"the re-run labels only the rest: {r.stdout.strip()}")
    check(open(out, "rb").read() == full_bytes, "the resumed file equals the uninterrupted run's, byte for byte")

    # Shards, one thread each, merged in the wrong order.
    env = dict(os.environ, OMP_NUM_THREADS="1")
    shards = [os.path.join(tmp, f"shard{i}.json") for i in range(2)]
    for i, path in enumerate(shards):
        unsam(base + ["--out", path, "--shard", f"{i}/2"], expect=0, env=env)
    merged = os.path.join(tmp, "merged.json")
    run([shards[1], shards[0], "--out", merged], expect=0, cmd="merge")
    check(open(merged, "rb").read() == full_bytes,
          "2 one-thread shards merged equal the single run's file, byte for byte (parent_id included)")

    # Other settings run and differ where they should.
    plain = os.path.join(tmp, "new", "folder", "plain.json")
    overlays = os.path.join(tmp, "overlays")
    r = unsam(["--images", images, "--out", plain, "--refine", "none", "--keep-rgb-crop", "--thresholds", "0.5,0.3",
               "--crop-size", "128", "--overlays", overlays], expect=0)
    p = json.load(open(plain))
    drawn = sorted(f for f in os.listdir(overlays) if f.endswith(".png"))
    want = sorted({f"img{a['image_id']}_level{a['level']}.png" for a in p["annotations"]} |
                  {f"img{im['id']}.png" for im in p["images"]})
    check(drawn == want and os.path.join(overlays, "index.html") in r.stdout,
          "--out in missing folders; --overlays draws the photo and each level present, names the page")
    check(p["info"]["refine"] == "none" and p["info"]["crop_bgr"] is False and p["info"]["crop_size"] == 128 and
          all(a["refine_iou"] == 1.0 and a["level"] <= 2 for a in p["annotations"]),
          f"--refine none --keep-rgb-crop --thresholds 0.5,0.3 --crop-size 128: {len(p['annotations'])} masks")

    # Bad input.
    mixed = os.path.join(tmp, "mixed")
    os.makedirs(mixed)
    shutil.copy(os.path.join(images, "scene00.png"), mixed)
    with open(os.path.join(mixed, "broken.jpg"), "wb") as f:
        f.write(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = os.path.join(tmp, "mixed.json")
    r = unsam(["--images", mixed, "--out", out], expect=1)
    m_doc = json.load(open(out))
    check("broken.jpg" in r.stderr and "1 unreadable" in r.stdout and
          [im["file_name"] for im in m_doc["images"]] == ["scene00.png"], "a corrupt image is skipped and named")
    r = unsam(["--images", os.path.join(tmp, "missing"), "--out", out], expect=1)
    check(r.stderr.count("\n") == 1 and "missing" in r.stderr, "a missing folder gives one line naming it")
    for bad in (["--shard", "2/2"], ["--tau", "1.5"], ["--n-masks", "0"], ["--size", "0"], ["--crop-size", "0"],
                ["--thresholds", "0.3,0.5"], ["--thresholds", "0.5,,0.3"], ["--thresholds", "nan"],
                ["--min-size", "0"], ["--refine", "cascadepsp"], ["--refine-side", "4"], ["--patch", "1"],
                ["--device", "gpu"], ["--bogus"]):
        r = unsam(["--images", images, "--out", out] + bad, expect=2)
        check(r.stderr.count("\n") == 1 or bad == ["--bogus"], f"{' '.join(bad)}: one line")
    unsam(["--images", images], expect=2)
    unsam(["--images", images, "--out", out, "--weights", "w.pth", "--patch", "8"], expect=2)
    r = unsam(["--images", images, "--out", tmp], expect=1)
    check("is a folder" in r.stderr and r.stderr.count("\n") == 1, "an output that is a folder is one line")
    r = unsam(["--images", images, "--out", out, "--crop-size", "100"], expect=1)
    check("crop-size" in r.stderr and r.stderr.count("\n") == 1, "a crop size not a multiple of the patch: one line")
    r = unsam(["--help"], expect=0)
    check("parent_id" in r.stdout and "CascadePSP" in r.stdout and "15.3" in r.stdout and "weights-free" in r.stdout,
          "--help documents the hierarchy fields, the CRF in place of CascadePSP, the default backbone")

print(f"unsam cli: {labelling.failures()} failed")
sys.exit(1 if labelling.failures() else 0)
