"""useg eval panoptic against an independent NumPy implementation of
panopticapi's pq_compute rules, on the shared COCO panoptic sample.

Predictions are made here from the ground truth: segments shifted, some
relabelled to another category, split in two or merged, some dropped,
random blobs added, some areas set to void, fresh random ids; the ground
truth also gets a crowd segment per image (part of a thing) to exercise the
crowd rule. PQ, SQ, RQ (all / things / stuff) and per-category TP/FP/FN
must agree (1e-9). Bad inputs must exit 1 with a message.

usage: test_panoptic.py USEG SHARED_DIR WORK_DIR
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refenv  # noqa: E402

USEG, SHARED, WORK = sys.argv[1:4]
SAMPLE = os.path.join(SHARED, "data", "coco_panoptic_sample", "sample_data")
if not os.path.isdir(SAMPLE):
    refenv.skip("shared panoptic sample not found at " + SAMPLE)
try:
    import numpy as np
    from PIL import Image
except ImportError as e:
    refenv.skip("reference needs numpy and PIL: %s" % e)

OFFSET = 256 * 256 * 256


def rgb2id(a):
    a = a.astype(np.uint32)
    return a[..., 0] + 256 * a[..., 1] + 256 * 256 * a[..., 2]


def id2rgb(ids):
    out = np.zeros(ids.shape + (3,), np.uint8)
    for c in range(3):
        out[..., c] = ids % 256
        ids = ids // 256
    return out


def reference_pq(gt_json, gt_dir, pred_json, pred_dir):
    """panopticapi's rules, written from their description."""
    gt = json.load(open(gt_json))
    pr = json.load(open(pred_json))
    cats = {c["id"]: c for c in gt["categories"]}
    stat = {c: [0.0, 0, 0, 0] for c in cats}  # iou, tp, fp, fn
    pred_by_img = {a["image_id"]: a for a in pr["annotations"]}
    for ga in gt["annotations"]:
        pa = pred_by_img[ga["image_id"]]
        g = rgb2id(np.array(Image.open(os.path.join(gt_dir, ga["file_name"])).convert("RGB")))
        p = rgb2id(np.array(Image.open(os.path.join(pred_dir, pa["file_name"])).convert("RGB")))
        gsegs = {s["id"]: s for s in ga["segments_info"]}
        psegs = {s["id"]: dict(s) for s in pa["segments_info"]}
        ids, cnt = np.unique(p, return_counts=True)
        for i, c in zip(ids, cnt):
            if i == 0:
                continue
            psegs[int(i)]["area"] = int(c)
        pairs, inter = np.unique(g.astype(np.uint64) * OFFSET + p.astype(np.uint64), return_counts=True)
        m = {(int(k // OFFSET), int(k % OFFSET)): int(v) for k, v in zip(pairs, inter)}
        gm, pm = set(), set()
        for (gl, pl), n in m.items():
            if gl not in gsegs or pl not in psegs:
                continue
            if gsegs[gl]["iscrowd"] == 1 or gsegs[gl]["category_id"] != psegs[pl]["category_id"]:
                continue
            union = psegs[pl]["area"] + gsegs[gl]["area"] - n - m.get((0, pl), 0)
            iou = n / union
            if iou > 0.5:
                st = stat[gsegs[gl]["category_id"]]
                st[0] += iou
                st[1] += 1
                gm.add(gl)
                pm.add(pl)
        crowd = {}
        for gl, s in gsegs.items():
            if gl in gm:
                continue
            if s["iscrowd"] == 1:
                crowd[s["category_id"]] = gl
                continue
            stat[s["category_id"]][3] += 1
        for pl, s in psegs.items():
            if pl in pm:
                continue
            n = m.get((0, pl), 0)
            if s["category_id"] in crowd:
                n += m.get((crowd[s["category_id"]], pl), 0)
            if n / s["area"] > 0.5:
                continue
            stat[s["category_id"]][2] += 1
    res = {}
    for name, want in [("all", None), ("things", True), ("stuff", False)]:
        vals = []
        for c, (iou, tp, fp, fn) in stat.items():
            if want is not None and (cats[c]["isthing"] == 1) != want:
                continue
            if tp + fp + fn == 0:
                continue
            d = tp + 0.5 * fp + 0.5 * fn
            vals.append((iou / d, iou / tp if tp else 0.0, tp / d))
        res[name] = {"pq": float(np.mean([v[0] for v in vals])), "sq": float(np.mean([v[1] for v in vals])),
                     "rq": float(np.mean([v[2] for v in vals])), "n": len(vals)} if vals else None
    return res, stat


def make_prediction(gt, gt_dir, out_dir, rng, cat_ids):
    os.makedirs(out_dir, exist_ok=True)
    anns = []
    for ga in gt["annotations"]:
        g = rgb2id(np.array(Image.open(os.path.join(gt_dir, ga["file_name"])).convert("RGB")))
        p = np.zeros_like(g)
        segs, next_id = [], 1000
        for s in ga["segments_info"]:
            r = rng.random()
            if r < 0.1:
                continue  # dropped
            m = g == s["id"]
            dy, dx = rng.integers(-6, 7, 2)
            m = np.roll(np.roll(m, dy, 0), dx, 1)
            cat = s["category_id"] if rng.random() > 0.15 else int(rng.choice(cat_ids))
            if r > 0.85:  # split in two halves by column
                xs = np.nonzero(m.any(0))[0]
                if len(xs) > 1:
                    mid = xs[len(xs) // 2]
                    left = m.copy()
                    left[:, mid:] = False
                    m[:, :mid] = False
                    next_id += int(rng.integers(1, 50))
                    p[left] = next_id
                    segs.append({"id": next_id, "category_id": cat})
            next_id += int(rng.integers(1, 50))
            p[m] = next_id
            segs.append({"id": next_id, "category_id": cat})
        for _ in range(3):  # random blobs
            y, x = rng.integers(0, g.shape[0] - 20), rng.integers(0, g.shape[1] - 20)
            next_id += int(rng.integers(1, 50))
            p[y:y + rng.integers(5, 60), x:x + rng.integers(5, 60)] = next_id
            segs.append({"id": next_id, "category_id": int(rng.choice(cat_ids))})
        y, x = rng.integers(0, g.shape[0] - 40), rng.integers(0, g.shape[1] - 40)
        p[y:y + 40, x:x + 40] = 0  # void
        present = set(np.unique(p).tolist())
        segs = [s for s in segs if s["id"] in present]
        Image.fromarray(id2rgb(p)).save(os.path.join(out_dir, ga["file_name"]))
        anns.append({"image_id": ga["image_id"], "file_name": ga["file_name"], "segments_info": segs})
    return anns


def with_crowd(gt, gt_dir, out_dir):
    """Turn the first thing segment of each image into a crowd region."""
    gt = json.loads(json.dumps(gt))
    for ga in gt["annotations"]:
        for s in ga["segments_info"]:
            if s["category_id"] <= 90:
                s["iscrowd"] = 1
                break
    return gt


def run(args, expect=0):
    r = subprocess.run([USEG, "eval", "panoptic"] + args, capture_output=True, text=True)
    if r.returncode != expect:
        raise SystemExit("FAIL: %s exited %d (wanted %d): %s" % (args, r.returncode, expect, r.stderr))
    return r


def main():
    os.makedirs(WORK, exist_ok=True)
    gt_json = os.path.join(SAMPLE, "panoptic_examples.json")
    gt_dir = os.path.join(SAMPLE, "panoptic_examples")
    gt = json.load(open(gt_json))
    cat_ids = [c["id"] for c in gt["categories"]]
    crowd_json = os.path.join(WORK, "gt_crowd.json")
    json.dump(with_crowd(gt, gt_dir, WORK), open(crowd_json, "w"))
    worst, n = 0.0, 0
    for seed in range(6):
        rng = np.random.default_rng(seed)
        pdir = os.path.join(WORK, "pred%d" % seed)
        anns = make_prediction(gt, gt_dir, pdir, rng, cat_ids)
        pjson = os.path.join(WORK, "pred%d.json" % seed)
        json.dump({"annotations": anns}, open(pjson, "w"))
        for gj in [gt_json, crowd_json]:
            out = os.path.join(WORK, "pq.json")
            run(["--gt-json", gj, "--gt-dir", gt_dir, "--pred-json", pjson, "--pred-dir", pdir, "--json", out])
            got = json.load(open(out))
            ref, stat = reference_pq(gj, gt_dir, pjson, pdir)
            for g in ["all", "things", "stuff"]:
                if ref[g] is None:
                    assert got[g]["n"] == 0 and got[g]["pq"] is None, got[g]
                    continue
                for k in ["pq", "sq", "rq"]:
                    worst = max(worst, abs(got[g][k] - ref[g][k]))
                assert got[g]["n"] == ref[g]["n"], (g, got[g], ref[g])
            for c in got["per_category"]:
                s = stat[c["category_id"]]
                assert (c["tp"], c["fp"], c["fn"]) == tuple(s[1:]), (c, s)
            n += 1
            print("seed %d %-14s PQ %.4f (th %.4f st %.4f) ref %.4f" % (
                seed, os.path.basename(gj), got["all"]["pq"], got["things"]["pq"] or 0, got["stuff"]["pq"] or 0,
                ref["all"]["pq"]))
    if worst > 1e-9:
        raise SystemExit("FAIL: worst difference %.3g" % worst)
    # Bad inputs: a PNG id missing from the JSON, a missing image, a wrong size.
    pj = json.load(open(os.path.join(WORK, "pred0.json")))
    pj["annotations"][0]["segments_info"] = pj["annotations"][0]["segments_info"][1:]
    json.dump(pj, open(os.path.join(WORK, "bad1.json"), "w"))
    r = run(["--gt-json", gt_json, "--gt-dir", gt_dir, "--pred-json", os.path.join(WORK, "bad1.json"),
             "--pred-dir", os.path.join(WORK, "pred0")], expect=1)
    assert "not in the JSON" in r.stderr, r.stderr
    pj["annotations"] = pj["annotations"][1:]
    json.dump(pj, open(os.path.join(WORK, "bad2.json"), "w"))
    r = run(["--gt-json", gt_json, "--gt-dir", gt_dir, "--pred-json", os.path.join(WORK, "bad2.json"),
             "--pred-dir", os.path.join(WORK, "pred0")], expect=1)
    assert "no prediction" in r.stderr, r.stderr
    small = os.path.join(WORK, "small")
    os.makedirs(small, exist_ok=True)
    for a in gt["annotations"]:
        Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(os.path.join(small, a["file_name"]))
    json.dump({"annotations": [dict(a, segments_info=[]) for a in gt["annotations"]]},
              open(os.path.join(WORK, "bad3.json"), "w"))
    r = run(["--gt-json", gt_json, "--gt-dir", gt_dir, "--pred-json", os.path.join(WORK, "bad3.json"),
             "--pred-dir", small], expect=1)
    assert "5x5" in r.stderr, r.stderr
    run(["--gt-json", gt_json], expect=2)
    print("%d evaluations compared with the NumPy reference, worst difference %.3g; bad inputs rejected" % (n, worst))


main()
