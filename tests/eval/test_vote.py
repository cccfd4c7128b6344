"""U2Seg's per-image voting (PAPERS.md 6.5) against a NumPy reference, on
data built from the shared COCO val2017 subset (129 images, 1196 objects).

Things (useg eval coco --vote): detections made from the ground-truth boxes
(jittered so that box IoU falls on both sides of 0.7, scores on both sides
of 0.6, 15 % given a random cluster, plus random false boxes and two
clusters built to tie) carry cluster ids as category_id. The reference
casts the votes (score >= 0.6, box IoU > 0.7 against every ground-truth box
of the image, crowd ones included with plain IoU), takes each cluster's
majority category (np.argmax over categories in id order), and relabels /
drops the detections. The mapping, the vote count and the dropped count
must be identical, and the AP/AR of --vote must equal those of a plain
evaluation of the reference's relabelled results.

Stuff (useg eval semantic --matching vote): ground-truth label maps are the
objects' polygons drawn with PIL (class = category rank + 1, background 0,
crowd regions 255 = ignore); predictions relabel classes through a random
cluster map, split some classes, add noisy blocks, pixels outside the
cluster range and a cluster too small to ever vote. The reference votes in
each image (mask IoU > 0.15 between every cluster and class present, the
cluster's area counting pixels of any ground truth), maps each cluster to
its majority class, ignores unmapped clusters' pixels, and scores. Mapping,
votes, ignored pixels, per-class IoU, mIoU and accuracy must agree (1e-12).
Bad options must exit 2.

usage: test_vote.py USEG SHARED_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refenv  # noqa: E402

USEG, SHARED, WORK = sys.argv[1:4]
COCO = os.path.join(SHARED, "data", "coco", "annotations", "instances_val2017.json")
if not os.path.isfile(COCO):
    refenv.skip("shared COCO annotations not found at " + COCO)
try:
    import numpy as np
    from PIL import Image, ImageDraw
except ImportError as e:
    refenv.skip("reference needs numpy and PIL (python3-numpy python3-pil): %s" % e)

rng = np.random.default_rng(11)
data = json.load(open(COCO))
cat_ids = sorted(c["id"] for c in data["categories"])
rank = {c: r for r, c in enumerate(cat_ids)}
by_image = {}
for a in data["annotations"]:
    by_image.setdefault(a["image_id"], []).append(a)


def run(kind, args, expect=0):
    r = subprocess.run([USEG, "eval", kind] + args, capture_output=True, text=True)
    if r.returncode != expect:
        raise SystemExit("FAIL: %s %s exited %d (wanted %d): %s" % (kind, args, r.returncode, expect, r.stderr))
    return r


def box_iou(d, g):
    """pycocotools' box IoU (non-crowd) of one [x, y, w, h] box against rows of g."""
    w = np.minimum(d[0] + d[2], g[:, 0] + g[:, 2]) - np.maximum(d[0], g[:, 0])
    h = np.minimum(d[1] + d[3], g[:, 1] + g[:, 3]) - np.maximum(d[1], g[:, 1])
    inter = np.where((w > 0) & (h > 0), w * h, 0.0)
    return inter / (d[2] * d[3] + g[:, 2] * g[:, 3] - inter)


def things():
    n_clusters = 150
    cluster_of_cat = {c: int(rng.integers(0, n_clusters - 2)) for c in cat_ids}
    dets = []
    for a in data["annotations"]:
        x, y, w, h = a["bbox"]
        for _ in range(int(rng.integers(1, 4))):
            s = rng.uniform(0.75, 1.25, 2)
            box = [x + rng.normal(0, 0.08) * w, y + rng.normal(0, 0.08) * h, w * s[0], h * s[1]]
            cl = cluster_of_cat[a["category_id"]] if rng.random() > 0.15 else int(rng.integers(0, n_clusters - 2))
            score = float(rng.choice([0.6, rng.random()]))
            dets.append({"image_id": a["image_id"], "category_id": cl, "bbox": box, "score": score})
    for im in data["images"]:
        for _ in range(3):
            w, h = rng.uniform(5, im["width"] / 2), rng.uniform(5, im["height"] / 2)
            dets.append({"image_id": im["id"], "category_id": int(rng.integers(0, n_clusters - 2)),
                         "bbox": [rng.uniform(0, im["width"] - w), rng.uniform(0, im["height"] - h), w, h],
                         "score": float(rng.random())})
    # Two clusters with one exact-box vote for each of two categories: a tie, won by the lower id.
    a = next(x for x in data["annotations"] if not x["iscrowd"])
    b = next(x for x in data["annotations"] if x["category_id"] != a["category_id"] and not x["iscrowd"])
    for cl in (n_clusters - 2, n_clusters - 1):
        for g in (a, b):
            dets.append({"image_id": g["image_id"], "category_id": cl, "bbox": g["bbox"], "score": 0.9})
    # Reference votes.
    votes = np.zeros((n_clusters, len(cat_ids)), np.int64)
    for d in dets:
        gts = by_image.get(d["image_id"], [])
        if d["score"] < 0.6 or not gts:
            continue
        ious = box_iou(np.array(d["bbox"]), np.array([g["bbox"] for g in gts], float))
        for g, v in zip(gts, ious):
            if v > 0.7:
                votes[d["category_id"], rank[g["category_id"]]] += 1
    mapping = [cat_ids[int(np.argmax(r))] if r.sum() else -1 for r in votes]
    kept = [dict(d, category_id=mapping[d["category_id"]]) for d in dets if mapping[d["category_id"]] >= 0]
    os.makedirs(WORK, exist_ok=True)
    raw, relabelled = os.path.join(WORK, "clusters.json"), os.path.join(WORK, "relabelled.json")
    json.dump(dets, open(raw, "w"))
    json.dump(kept, open(relabelled, "w"))
    out_vote, out_plain = os.path.join(WORK, "vote.json"), os.path.join(WORK, "plain.json")
    run("coco", ["--gt", COCO, "--results", raw, "--iou-type", "bbox", "--vote", "--json", out_vote])
    run("coco", ["--gt", COCO, "--results", relabelled, "--iou-type", "bbox", "--json", out_plain])
    got, plain = json.load(open(out_vote)), json.load(open(out_plain))
    v = got["vote"]
    fails = []
    if v["category_of_cluster"] != mapping:
        bad = [k for k, (x, y) in enumerate(zip(v["category_of_cluster"], mapping)) if x != y]
        fails.append("mapping differs for clusters %s" % bad[:10])
    if v["n_votes"] != int(votes.sum()) or v["n_dropped"] != len(dets) - len(kept):
        fails.append("votes %d / dropped %d, reference %d / %d" % (v["n_votes"], v["n_dropped"], votes.sum(),
                                                                    len(dets) - len(kept)))
    if mapping[-1] != min(a["category_id"], b["category_id"]):
        fails.append("the reference's tie does not go to the lower id")
    if got["stats"] != plain["stats"] or got["n_dt"] != len(kept):
        fails.append("AP/AR after voting differ from the relabelled results': %s vs %s" % (got["stats"],
                                                                                          plain["stats"]))
    print("things: %d detections, %d votes, %d of %d clusters mapped, %d dropped; AP %.4f AR100 %.4f" % (
        len(dets), votes.sum(), sum(m >= 0 for m in mapping), n_clusters, len(dets) - len(kept),
        got["stats"]["AP"], got["stats"]["AR100"]))
    # Bad options.
    run("coco", ["--gt", COCO, "--results", raw, "--vote-iou", "0.5"], expect=2)
    run("coco", ["--gt", COCO, "--results", raw, "--vote", "--vote-iou", "1.5"], expect=2)
    run("coco", ["--gt", COCO, "--results", raw, "--iou-type", "bbox"], expect=1)  # cluster ids are no categories
    negative = os.path.join(WORK, "negative.json")
    json.dump([dict(dets[0], category_id=-3)], open(negative, "w"))
    r = run("coco", ["--gt", COCO, "--results", negative, "--iou-type", "bbox", "--vote"], expect=1)
    assert "cluster id -3" in r.stderr, r.stderr
    return fails


def draw_gt(im):
    """Label map: objects drawn in annotation order, crowd (RLE) regions ignored."""
    g = Image.new("L", (im["width"], im["height"]), 0)
    draw = ImageDraw.Draw(g)
    crowd = np.zeros((im["height"], im["width"]), bool)
    for a in by_image.get(im["id"], []):
        if a["iscrowd"]:
            counts, (h, w) = a["segmentation"]["counts"], a["segmentation"]["size"]
            flat = np.zeros(h * w, bool)
            pos = np.cumsum([0] + counts)
            for k in range(1, len(counts), 2):
                flat[pos[k]:pos[k + 1]] = True
            crowd |= flat.reshape(w, h).T
            continue
        for poly in a["segmentation"]:
            if len(poly) >= 6:
                draw.polygon(poly, fill=rank[a["category_id"]] + 1)
    g = np.array(g).astype(np.int64)
    g[crowd] = 255
    return g


def stuff():
    K, N = 81, 100
    cluster_of_class = rng.integers(0, N - 1, K)
    gdir, pdir = os.path.join(WORK, "sem_gt"), os.path.join(WORK, "sem_pred")
    os.makedirs(gdir, exist_ok=True)
    os.makedirs(pdir, exist_ok=True)
    gts, preds = [], []
    for im in data["images"]:
        g = draw_gt(im)
        p = cluster_of_class[np.minimum(g, K - 1)]
        split = rng.integers(0, K, 5)  # some classes spread over a second cluster
        p = np.where(np.isin(g, split) & (rng.random(g.shape) < 0.4), (p + 1) % (N - 1), p)
        for _ in range(int(rng.integers(2, 8))):  # noisy blocks
            y, x = rng.integers(0, g.shape[0]), rng.integers(0, g.shape[1])
            p[y:y + int(rng.integers(5, 120)), x:x + int(rng.integers(5, 120))] = rng.integers(0, N - 1)
        p[rng.random(g.shape) < 0.02] = N + 5          # outside the clusters
        p[:2, :2] = N - 1                               # a cluster too small to vote
        name = "%012d.png" % im["id"]
        Image.fromarray(g.astype(np.uint8)).save(os.path.join(gdir, name))
        Image.fromarray(p.astype(np.uint8)).save(os.path.join(pdir, name))
        gts.append(g)
        preds.append(p)
    # Reference.
    votes = np.zeros((N, K), np.int64)
    conf = np.zeros((N, K), np.int64)
    for g, p in zip(gts, preds):
        vp, vg = (p >= 0) & (p < N), (g >= 0) & (g < K)
        area_p = np.bincount(p[vp], minlength=N)
        area_g = np.bincount(g[vg], minlength=K)
        both = vp & vg
        inter = np.bincount(p[both] * K + g[both], minlength=N * K).reshape(N, K)
        conf += inter
        with np.errstate(invalid="ignore", divide="ignore"):
            iou = inter / (area_p[:, None] + area_g[None, :] - inter)
        votes += (inter > 0) & (iou > 0.15)
    mapping = np.array([int(np.argmax(r)) if r.sum() else -1 for r in votes])
    mapped = mapping >= 0
    scored = conf[mapped]
    tp = np.zeros(K)
    pred_c = np.zeros(K)
    for row, m in zip(scored, mapping[mapped]):
        tp[m] += row[m]
        pred_c[m] += row.sum()
    truth = scored.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref_iou = tp / (pred_c + truth - tp)
    ref = {"miou": np.nanmean(ref_iou), "accuracy": tp.sum() / scored.sum(), "unmapped": int(conf[~mapped].sum())}
    out = os.path.join(WORK, "sem.json")
    run("semantic", ["--gt", gdir, "--pred", pdir, "--n-classes", str(K), "--n-clusters", str(N), "--matching",
                     "vote", "--json", out])
    got = json.load(open(out))
    got_iou = np.array([np.nan if x is None else x for x in got["iou"]])
    fails = []
    if got["class_of_cluster"] != mapping.tolist():
        fails.append("stuff mapping differs")
    if got["vote"]["n_votes"] != int(votes.sum()) or got["vote"]["n_unmapped_pixels"] != ref["unmapped"]:
        fails.append("votes %d / ignored %d, reference %d / %d" % (got["vote"]["n_votes"],
                                                                   got["vote"]["n_unmapped_pixels"], votes.sum(),
                                                                   ref["unmapped"]))
    d = max(abs(got["miou"] - ref["miou"]), abs(got["accuracy"] - ref["accuracy"]),
            np.nanmax(np.abs(got_iou - ref_iou)))
    if d > 1e-12 or not np.array_equal(np.isnan(got_iou), np.isnan(ref_iou)):
        fails.append("scores differ by %.3g" % d)
    print("stuff: %d images, %d votes, %d of %d clusters mapped, %d pixels ignored; mIoU %.6f (ref %.6f) "
          "acc %.6f (ref %.6f)" % (len(gts), votes.sum(), mapped.sum(), N, ref["unmapped"], got["miou"],
                                   ref["miou"], got["accuracy"], ref["accuracy"]))
    run("semantic", ["--gt", gdir, "--pred", pdir, "--n-classes", str(K), "--vote-iou", "0.2"], expect=2)
    run("semantic", ["--gt", gdir, "--pred", pdir, "--n-classes", str(K), "--matching", "vote", "--vote-iou", "1"],
        expect=2)
    return fails


fails = things() + stuff()
for f in fails:
    print("FAIL: " + f)
sys.exit(1 if fails else 0)
