"""useg eval bsds (region benchmark) against the expected outputs of the
original BSDS500 MATLAB benchmark shipped in bench_reference_data:
test_1 (ucm2 at 5 thresholds), test_4 and test_5 (segmentation sets).
Every number of eval_cover.txt, eval_cover_th.txt, eval_cover_img.txt,
eval_RI_VOI.txt and eval_RI_VOI_thr.txt must agree within 1e-5 (the files
print 6 significant digits). Bad inputs must exit 1 with a message.

usage: test_bsds.py USEG SHARED_DIR WORK_DIR
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refenv  # noqa: E402

USEG, SHARED, WORK = sys.argv[1:4]
REF = os.path.join(SHARED, "data", "bsds500", "bench_reference_data")
if not os.path.isdir(REF):
    refenv.skip("BSDS reference data not found at " + REF)
TOL = 1e-5


def rows(path):
    return [[float(x) for x in line.split()] for line in open(path) if line.strip()]


def run(args, expect=0):
    r = subprocess.run([USEG, "eval", "bsds"] + args, capture_output=True, text=True)
    if r.returncode != expect:
        raise SystemExit("FAIL: %s exited %d (wanted %d): %s" % (args, r.returncode, expect, r.stderr))
    return r


def main():
    os.makedirs(WORK, exist_ok=True)
    worst, n = 0.0, 0
    gt = os.path.join(REF, "groundTruth")
    for test, seg_dir, extra in [("test_1", "ucm2", ["--ucm", "--nthresh", "5"]), ("test_4", "segs", []),
                                 ("test_5", "segs", [])]:
        out = os.path.join(WORK, test + ".json")
        run(["--gt-dir", gt, "--seg-dir", os.path.join(REF, seg_dir), "--json", out] + extra)
        got = json.load(open(out))
        d = os.path.join(REF, test)
        c, ri = got["cover"], got["ri"]
        v = got["voi"]
        pairs = list(zip(rows(os.path.join(d, "eval_cover.txt"))[0], [c["ods_t"], c["ods"], c["ois"], c["best"]]))
        pairs += zip(rows(os.path.join(d, "eval_RI_VOI.txt"))[0],
                     [ri["ods_t"], ri["ods"], ri["ois"], v["ods_t"], v["ods"], v["ois"]])
        for ref_row, th in zip(rows(os.path.join(d, "eval_cover_th.txt")), got["per_threshold"]):
            pairs += zip(ref_row, [th["t"], th["cover"]])
        for ref_row, th in zip(rows(os.path.join(d, "eval_RI_VOI_thr.txt")), got["per_threshold"]):
            pairs += zip(ref_row, [th["t"], th["ri"], th["voi"]])
        for i, (ref_row, im) in enumerate(zip(rows(os.path.join(d, "eval_cover_img.txt")), got["per_image"])):
            # The benchmark's per-image line: image, threshold, covering, and
            # the covering of the segmentation by the ground truth there.
            pairs += zip(ref_row, [i + 1, im["t"], im["cover"], im["precision"]])
        diff = max(abs(a - b) for a, b in pairs)
        worst = max(worst, diff)
        n += len(pairs)
        print("%s: %d numbers, max |diff| %.2e (covering ODS %.6f, PRI ODS %.6f, VoI ODS %.6f)" % (
            test, len(pairs), diff, c["ods"], ri["ods"], v["ods"]))
        if diff > TOL:
            raise SystemExit("FAIL: %s differs from the benchmark's output by %.3g" % (test, diff))
    # Bad inputs: a segmentation without ground truth, a file that is not .mat,
    # a .mat without the variable, a segmentation of the wrong size.
    bad = os.path.join(WORK, "bad")
    shutil.rmtree(bad, ignore_errors=True)
    os.makedirs(bad)
    open(os.path.join(bad, "nosuch.mat"), "w").write("not a mat file")
    r = run(["--gt-dir", gt, "--seg-dir", bad], expect=1)
    print("bad input:", r.stderr.strip())
    shutil.copy(os.path.join(gt, "2018.mat"), os.path.join(bad, "2018.mat"))
    os.remove(os.path.join(bad, "nosuch.mat"))
    r = run(["--gt-dir", gt, "--seg-dir", bad], expect=1)  # groundTruth file has no 'segs'
    assert "segs" in r.stderr, r.stderr
    print("bad input:", r.stderr.strip())
    r = run(["--gt-dir", gt, "--seg-dir", bad, "--ucm"], expect=1)
    print("bad input:", r.stderr.strip())
    run(["--gt-dir", gt], expect=2)
    print("%d numbers compared with the BSDS benchmark's outputs, worst difference %.3g" % (n, worst))


main()
