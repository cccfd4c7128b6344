"""useg eval bsds against the expected outputs of the original BSDS500 MATLAB
benchmark shipped in bench_reference_data.

region: test_1 (ucm2 at 5 thresholds), test_4 and test_5 (segmentation
sets). Every number of eval_cover.txt, eval_cover_th.txt, eval_cover_img.txt,
eval_RI_VOI.txt and eval_RI_VOI_thr.txt must agree within 1e-5 (the files
print 6 significant digits). Bad inputs must exit 1 with a message.

boundary: test_1 (ucm2 at 5 thresholds), test_2 (PNG soft contours at 5
thresholds), test_3 and test_4 (segmentation sets). Every number of
eval_bdry.txt, eval_bdry_thr.txt and eval_bdry_img.txt is compared, for both
pixel matchings (--match sparse, the default, and exact).

Tolerances of the boundary part. correspondPixels draws random outlier arcs, so the benchmark
does not reproduce itself: test_1..test_4 score the very same thinned maps
(we get identical maps from all four inputs) yet differ among themselves by
up to 5.7e-4 in eval_bdry.txt, 6.9e-4 in the per-threshold R/P/F and 1.4e-3
in the per-image R/P/F (ODS F by up to 1.0e-4). We ask for the same bands:
thresholds within 1e-5 (6 printed digits), ODS and OIS F within 5e-4, the
other summary numbers and the per-threshold R/P/F within 1e-3, per-image
R/P/F within 2e-3. And the exact matching pairs as many pixels as possible,
so its per-threshold recall must not fall below the benchmark's.

A second run with the same seed must give byte-identical JSON (the maps are
matched in parallel). Bad inputs must exit 1 (runtime) or 2 (usage).

usage: test_bsds.py USEG SHARED_DIR WORK_DIR region|boundary
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import refenv  # noqa: E402

USEG, SHARED, WORK, BENCH = sys.argv[1:5]
REF = os.path.join(SHARED, "data", "bsds500", "bench_reference_data")
if not os.path.isdir(REF):
    refenv.skip("BSDS reference data not found at " + REF)
TOL = 1e-5
TESTS = [("test_1", "ucm2", ["--ucm", "--nthresh", "5"]), ("test_2", "png", ["--pb", "--nthresh", "5"]),
         ("test_3", "segs", []), ("test_4", "segs", [])]
TOL_T, TOL_F, TOL_SUMMARY, TOL_IMG = 1e-5, 5e-4, 1e-3, 2e-3


def rows(path):
    return [[float(x) for x in line.split()] for line in open(path) if line.strip()]


def run(args, expect=0):
    r = subprocess.run([USEG, "eval", "bsds"] + args, capture_output=True, text=True)
    if r.returncode != expect:
        raise SystemExit("FAIL: %s exited %d (wanted %d): %s" % (args, r.returncode, expect, r.stderr))
    return r


def main_region():
    os.makedirs(WORK, exist_ok=True)
    worst, n = 0.0, 0
    gt = os.path.join(REF, "groundTruth")
    for test, seg_dir, extra in [("test_1", "ucm2", ["--ucm", "--nthresh", "5"]), ("test_4", "segs", []),
                                 ("test_5", "segs", [])]:
        out = os.path.join(WORK, test + ".json")
        run(["--gt-dir", gt, "--seg-dir", os.path.join(REF, seg_dir), "--bench", "region", "--json", out] + extra)
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


def compare(test, b):
    """Largest differences (thresholds, F, summary, per threshold, per image) and failures."""
    d = os.path.join(REF, test)
    fails = []
    ref = rows(os.path.join(d, "eval_bdry.txt"))[0]
    got = [b["ods"]["t"], b["ods"]["r"], b["ods"]["p"], b["ods"]["f"], b["ois"]["r"], b["ois"]["p"], b["ois"]["f"],
           b["ap"]]
    diff = [abs(x - y) for x, y in zip(got, ref)]
    worst = {"t": diff[0], "f": max(diff[3], diff[6]), "summary": max(diff[1:]), "thr": 0.0, "img": 0.0}
    for ref_row, th in zip(rows(os.path.join(d, "eval_bdry_thr.txt")), b["per_threshold"]):
        mine = [th["t"], th["r"], th["p"], th["f"]]
        worst["t"] = max(worst["t"], abs(mine[0] - ref_row[0]))
        worst["thr"] = max([worst["thr"]] + [abs(x - y) for x, y in zip(mine[1:], ref_row[1:])])
        if b["match"] == "exact" and th["r"] < ref_row[1] - 1e-6:
            fails.append("exact recall %.6f below the benchmark's %.6f at t=%g" % (th["r"], ref_row[1], th["t"]))
    for i, (ref_row, im) in enumerate(zip(rows(os.path.join(d, "eval_bdry_img.txt")), b["per_image"])):
        mine = [i + 1, im["t"], im["r"], im["p"], im["f"]]
        worst["t"] = max(worst["t"], abs(mine[1] - ref_row[1]))
        worst["img"] = max([worst["img"]] + [abs(x - y) for x, y in zip(mine[2:], ref_row[2:])])
    if len(b["per_threshold"]) != len(rows(os.path.join(d, "eval_bdry_thr.txt"))):
        fails.append("%d thresholds, the benchmark has %d" % (len(b["per_threshold"]),
                                                              len(rows(os.path.join(d, "eval_bdry_thr.txt")))))
    for key, tol in [("t", TOL_T), ("f", TOL_F), ("summary", TOL_SUMMARY), ("thr", TOL_SUMMARY), ("img", TOL_IMG)]:
        if worst[key] > tol:
            fails.append("%s differs by %.3g > %g" % (key, worst[key], tol))
    return got, ref, worst, fails


def main_boundary():
    os.makedirs(WORK, exist_ok=True)
    gt = os.path.join(REF, "groundTruth")
    failed = False
    for match in ["sparse", "exact"]:
        for test, in_dir, extra in TESTS:
            out = os.path.join(WORK, "%s_%s.json" % (test, match))
            run(["--gt-dir", gt, "--seg-dir", os.path.join(REF, in_dir), "--bench", "boundary", "--match", match,
                 "--json", out] + extra)
            got, ref, worst, fails = compare(test, json.load(open(out))["boundary"])
            print("%-6s %s: ODS F %.6f (ref %.6f)  OIS F %.6f (ref %.6f)  AP %.6f (ref %.6f)  max |diff|: "
                  "summary %.1e, per threshold %.1e, per image %.1e" % (
                      match, test, got[3], ref[3], got[6], ref[6], got[7], ref[7], worst["summary"], worst["thr"],
                      worst["img"]))
            for f in fails:
                print("FAIL: %s %s: %s" % (match, test, f))
            failed |= bool(fails)
    # Determinism: the same seed twice.
    again = os.path.join(WORK, "test_1_again.json")
    run(["--gt-dir", gt, "--seg-dir", os.path.join(REF, "ucm2"), "--bench", "boundary", "--json", again, "--ucm",
         "--nthresh", "5"])
    if open(again).read() != open(os.path.join(WORK, "test_1_sparse.json")).read():
        print("FAIL: two runs with the same seed differ")
        failed = True
    # Bad inputs.
    bad = os.path.join(WORK, "bad")
    shutil.rmtree(bad, ignore_errors=True)
    os.makedirs(bad)
    shutil.copy(os.path.join(REF, "png", "2018.png"), os.path.join(bad, "nosuch.png"))
    r = run(["--gt-dir", gt, "--seg-dir", bad, "--pb"], expect=1)  # no ground truth for it
    print("bad input:", r.stderr.strip())
    os.rename(os.path.join(bad, "nosuch.png"), os.path.join(bad, "3063.png"))  # 2018 is 321x481, 3063 481x321
    r = run(["--gt-dir", gt, "--seg-dir", bad, "--pb"], expect=1)
    assert "3063.png is 321x481" in r.stderr and "is 481x321" in r.stderr, r.stderr
    print("bad input:", r.stderr.strip())
    for args in (["--pb", "--bench", "region"], ["--match", "best"], ["--max-dist", "0"], ["--ucm", "--pb"],
                 ["--bench", "none"], ["--seed", "-1"]):
        run(["--gt-dir", gt, "--seg-dir", bad] + args, expect=2)
    if failed:
        raise SystemExit("FAIL: boundary benchmark differs from the MATLAB benchmark's outputs")
    print("boundary benchmark within the MATLAB benchmark's own run-to-run spread on test_1..test_4")


(main_region if BENCH == "region" else main_boundary)()
