"""useg eval coco on bad input: each case must exit 1 with a one-line
message naming the problem (never crash, never print numbers), and an empty
result list must evaluate to a defined result: AP and AR 0 wherever ground
truth exists, -1 where none does.

usage: test_coco_bad_input.py USEG WORK_DIR
"""
import json
import os
import subprocess
import sys

USEG, WORK = sys.argv[1:3]
os.makedirs(WORK, exist_ok=True)


def write(name, obj_or_text):
    path = os.path.join(WORK, name)
    with open(path, "w") as f:
        f.write(obj_or_text if isinstance(obj_or_text, str) else json.dumps(obj_or_text))
    return path


GT = {
    "images": [{"id": 1, "height": 20, "width": 30}, {"id": 2, "height": 10, "width": 10}],
    "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 36.0, "bbox": [2, 2, 6, 6],
         "segmentation": [[2, 2, 8, 2, 8, 8, 2, 8]]},
        {"id": 2, "image_id": 2, "category_id": 2, "iscrowd": 0, "area": 16.0, "bbox": [1, 1, 4, 4],
         "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]},
    ],
}
gt = write("gt.json", GT)

def det(**kw):
    d = {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [2, 2, 6, 6]}
    d.update(kw)
    return d


cases = [
    ("malformed JSON", write("r1.json", '[{"image_id": 1,'), "bad JSON", "bbox"),
    ("not a list", write("r2.json", {"image_id": 1}), "array", "bbox"),
    ("unknown image", write("r3.json", [det(image_id=99)]), "image_id 99", "bbox"),
    ("unknown category", write("r4.json", [det(category_id=7)]), "category_id 7", "bbox"),
    ("missing score", write("r5.json", [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]), "score", "bbox"),
    ("bbox of 3 numbers", write("r6.json", [det(bbox=[1, 2, 3])]), "bbox", "bbox"),
    ("mask of the wrong size", write("r7.json", [{"image_id": 1, "category_id": 1, "score": 1,
                                                  "segmentation": {"size": [10, 10], "counts": "0\\1"}}]),
     "differs from its image", "segm"),
    ("corrupt RLE string", write("r8.json", [{"image_id": 1, "category_id": 1, "score": 1,
                                              "segmentation": {"size": [20, 30], "counts": "~~~~"}}]),
     "RLE", "segm"),
    ("RLE counts not summing to the image", write("r9.json", [{"image_id": 1, "category_id": 1, "score": 1,
                                                               "segmentation": {"size": [20, 30], "counts": [5, 5]}}]),
     "sum", "segm"),
    ("missing results file", os.path.join(WORK, "nope.json"), "cannot open", "bbox"),
    ("string score", write("r10.json", [det(score="high")]), "score", "bbox"),
]
fails = 0
for label, res, needle, iou in cases:
    r = subprocess.run([USEG, "eval", "coco", "--gt", gt, "--results", res, "--iou-type", iou],
                       capture_output=True, text=True)
    ok = r.returncode == 1 and needle in r.stderr and r.stdout == "" and r.stderr.count("\n") == 1
    print("%-40s exit %d  %s" % (label, r.returncode, r.stderr.strip()))
    if not ok:
        fails += 1
        print("  FAIL: wanted exit 1 and one line mentioning %r" % needle)

# A failure inside the parallel mask decoding: of several bad masks in a large
# results file, the message names the first in file order at any thread
# count. 2047 ends a 64-item chunk of the decoding loop and is slow to fail
# (a long run list summing to 0); 2048 starts the next chunk and fails at
# once, so with several threads the later one fails first.
ok_mask = {"size": [20, 30], "counts": [100, 50, 450]}
bad_at = {2047: {"size": [20, 30], "counts": [0] * 300000}, 2048: {"size": [20, 30], "counts": "~~~~"},
          3500: {"size": [20, 30], "counts": [5, 5]}}
many = write("many_bad.json", [{"image_id": 1, "category_id": 1, "score": 0.5, "segmentation": bad_at.get(i, ok_mask)}
                               for i in range(4000)])
for threads in ["1", "2", "4", "8"]:
    r = subprocess.run([USEG, "eval", "coco", "--gt", gt, "--results", many, "--iou-type", "segm"],
                       capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS=threads))
    ok = r.returncode == 1 and "results[2047]: RLE counts sum to 0" in r.stderr and r.stderr.count("\n") == 1
    print("%-40s exit %d  %s" % ("first bad mask, %s threads" % threads, r.returncode, r.stderr.strip()))
    if not ok:
        fails += 1
        print("  FAIL: wanted exit 1 and one line naming results[2047]")

# Bad ground truth.
bad_gt = dict(GT, annotations=GT["annotations"] + [dict(GT["annotations"][0], id=3, image_id=5)])
r = subprocess.run([USEG, "eval", "coco", "--gt", write("gt_bad.json", bad_gt), "--results",
                    write("ok.json", [det()])], capture_output=True, text=True)
print("%-40s exit %d  %s" % ("ground truth naming an unknown image", r.returncode, r.stderr.strip()))
fails += r.returncode != 1

# Empty results: a defined result.
for iou in ["segm", "bbox"]:
    out = os.path.join(WORK, "empty_out.json")
    r = subprocess.run([USEG, "eval", "coco", "--gt", gt, "--results", write("empty.json", []), "--iou-type", iou,
                        "--json", out], capture_output=True, text=True)
    if r.returncode != 0:
        fails += 1
        print("FAIL: empty results exited %d: %s" % (r.returncode, r.stderr))
        continue
    stats = json.load(open(out))["stats"]
    # Both objects are small (area < 32^2): medium and large have no ground truth.
    want = {k: (-1.0 if k in ("APm", "APl", "ARm", "ARl") else 0.0) for k in stats}
    print("%-40s %s" % ("empty results (%s)" % iou, stats))
    if stats != want:
        fails += 1
        print("  FAIL: wanted %s" % want)
# Usage errors exit 2.
for args in [["--gt", gt], ["--gt", gt, "--results", gt, "--iou-type", "keypoints"],
             ["--gt", gt, "--results", gt, "--max-dets", "1,10"]]:
    r = subprocess.run([USEG, "eval", "coco"] + args, capture_output=True, text=True)
    if r.returncode != 2:
        fails += 1
        print("FAIL: %s exited %d, wanted 2" % (args, r.returncode))
print("%d failures" % fails)
sys.exit(1 if fails else 0)
