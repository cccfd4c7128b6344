"""The mask code against pycocotools on the shared COCO ground truth: every
annotation (polygons, and crowd RLE) rasterised and re-encoded by useg must
give exactly pycocotools' compressed RLE string, area and toBbox box. Extra
annotations with random masks (as uncompressed RLE) and boxes check RLE
decoding and the box-as-polygon rule.

usage: test_rle.py TOOL SHARED_DIR WORK_DIR VENV_DIR
"""
import contextlib
import io
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refenv  # noqa: E402

TOOL, SHARED, WORK, VENV = sys.argv[1:5]
ANN = os.path.join(SHARED, "data", "coco", "annotations")
if not os.path.isdir(ANN):
    refenv.skip("shared COCO data not found at " + ANN)
refenv.reexec_in_venv(VENV, ["pycocotools"])
import numpy as np  # noqa: E402
from pycocotools import mask as mu  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402


def main():
    os.makedirs(WORK, exist_ok=True)
    rng = np.random.default_rng(5)
    checked = 0
    for split in ["val2017", "train2017"]:
        d = json.load(open(os.path.join(ANN, "instances_%s.json" % split)))
        next_id = max(a["id"] for a in d["annotations"]) + 1
        for img in d["images"][:40]:
            H, W = img["height"], img["width"]
            m = (rng.random((H, W)) < 0.02).astype(np.uint8)
            m[rng.integers(0, H):, rng.integers(0, W):] ^= 1
            flat = m.flatten(order="F")
            change = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
            counts = np.diff(np.concatenate([[0], change])).tolist()
            d["annotations"].append({"id": next_id, "image_id": img["id"], "category_id": 1, "iscrowd": 1,
                                     "area": 1.0, "bbox": [0, 0, 1, 1],
                                     "segmentation": {"size": [H, W], "counts": counts}})
            x, y = rng.uniform(-5, W), rng.uniform(-5, H)
            d["annotations"].append({"id": next_id + 1, "image_id": img["id"], "category_id": 1, "iscrowd": 0,
                                     "area": 1.0, "bbox": [0, 0, 1, 1],
                                     "segmentation": [[x, y, rng.uniform(1, 80), rng.uniform(1, 80)]]})
            next_id += 2
        gt_file = os.path.join(WORK, "gt_%s.json" % split)
        json.dump(d, open(gt_file, "w"))
        out = os.path.join(WORK, "masks_%s.json" % split)
        subprocess.run([TOOL, gt_file, out], check=True)
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(gt_file)
        mine = json.load(open(out))
        assert len(mine) == len(d["annotations"])
        for a, r in zip(d["annotations"], mine):
            seg = a["segmentation"]
            if isinstance(seg, list) and len(seg[0]) == 4:
                # A list of boxes: pycocotools' annToRLE passes a list where its
                # frBbox wants an array, so call frBbox the way it means to.
                img = gt.imgs[a["image_id"]]
                ref = mu.merge(mu.frPyObjects(np.array(seg, dtype=np.double), img["height"], img["width"]))
            else:
                ref = gt.annToRLE(gt.anns[a["id"]])
            ref_counts = ref["counts"].decode() if isinstance(ref["counts"], bytes) else ref["counts"]
            if isinstance(ref_counts, list):  # pycocotools keeps uncompressed RLE as given
                ref = mu.frPyObjects(ref, ref["size"][0], ref["size"][1])
                ref_counts = ref["counts"].decode()
            ref_area = float(mu.area(ref))
            ref_box = [float(v) for v in mu.toBbox(ref)]
            got = r["segmentation"]
            if got["counts"] != ref_counts or r["score"] != ref_area or r["bbox"] != ref_box:
                raise SystemExit("FAIL: annotation %d: useg %s area %s box %s; pycocotools %s area %s box %s" % (
                    a["id"], got["counts"][:60], r["score"], r["bbox"], ref_counts[:60], ref_area, ref_box))
            checked += 1
    print("%d masks identical to pycocotools (RLE string, area, box)" % checked)


main()
