#!/usr/bin/env python3
"""NumPy reference for UnSAM's conquer stage (pseudolabel/merge.c, conquer.c)
and the driver of the tests that compare them.

    merge_reference.py merge   TEST_BINARY   synthetic grids: planted regions, random,
                                             exact ties, fp16-rounded, odd shapes
    merge_reference.py photos  TEST_BINARY   colour/texture features of BSDS500 photos,
                                             whole images and conquer crops (77 if absent)
    merge_reference.py conquer TEST_BINARY   back-projection, coverage, NMS, parents on
                                             synthetic divide masks; NMS on its own

The merge below is the reference's algorithm written straight from
PAPERS.md 3.3: a dict of edges scanned linearly for the maximum (Python's
max() returns the first maximum in insertion order), clusters with feature
sums, counts and unit means, neighbour sets. Two choices make it a defined
function that the C code must match exactly:
  * a merge inserts its new edges in descending neighbour id (the reference
    iterates a Python set, whose order is not defined);
  * unit means are F.normalize'd means computed in float64 and stored as
    float32 (the reference's normalized_feature); weights are their dot
    products accumulated in float64 and rounded to float32 (the reference's
    float32 dot, .item()).
Everything else (level output in dict order, min size, no-neighbour rule,
the back-projection threshold, coverage, windowed NMS) follows the
reference's code paths. The parent rule is conquer.h's, written here as set
containment on patch masks rather than label lookups.

For every case the script writes inputs as .npy into a temporary folder,
runs TEST_BINARY MODE DIR NAME... twice (two output folders), requires the
two runs to be byte-identical, and compares the outputs with the reference.
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))
BSDS_VAL = os.path.join(os.path.dirname(SOURCE_ROOT), "shared", "data", "bsds500", "images", "val")
THETAS = [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
GREEDY, PASSES = 0, 1


# --- The merge. ----------------------------------------------------------------

def unit(f, count):
    """float32 values (held in float64 so the dot products below are exact products)."""
    m = f * (1.0 / count)  # merge.c's arithmetic: multiplications by reciprocals
    return (m * (1.0 / max(np.sqrt(np.dot(m, m)), 1e-12))).astype(np.float32).astype(np.float64)


def weight(u, v):
    return float(np.float32(np.dot(u, v)))


class Cluster:
    __slots__ = ("sum", "unit", "size", "patches", "nbrs")

    def __init__(self, f, size, patches):
        self.sum, self.size, self.patches = f, size, patches
        self.unit = unit(f, size)
        self.nbrs = set()


def iterative_merge(features, thresholds, min_size=4, order=GREEDY):
    """Returns (merges [(i, j, w)], levels [[(node, frozenset of patches)]])."""
    H, W, _ = features.shape
    feats = features.astype(np.float64)
    clusters, sim = [], {}
    for idx in range(H * W):
        clusters.append(Cluster(feats[idx // W, idx % W].copy(), 1, frozenset([idx])))
        for old, exists in ((idx - 1, idx % W != 0), (idx - W, idx >= W)):  # the reference's order
            if not exists:
                continue
            clusters[idx].nbrs.add(old)
            clusters[old].nbrs.add(idx)
            sim[(old, idx)] = weight(clusters[old].unit, clusters[idx].unit)

    merges, levels = [], []

    def merge(i, j):
        ci, cj = clusters[i], clusters[j]
        new = len(clusters)
        merged = Cluster(ci.sum + cj.sum, ci.size + cj.size, ci.patches | cj.patches)
        nbrs = (ci.nbrs | cj.nbrs) - {i, j}
        merges.append((i, j, sim.pop((i, j))))
        clusters.append(merged)
        for k in sorted(nbrs, reverse=True):
            for gone in (i, j):
                if gone in clusters[k].nbrs:
                    del sim[(min(k, gone), max(k, gone))]
                    clusters[k].nbrs.discard(gone)
            sim[(k, new)] = weight(clusters[k].unit, merged.unit)
            clusters[k].nbrs.add(new)
            merged.nbrs.add(k)

    def key(e):  # the dict order's tie rule, made explicit for the pass variant
        return (sim[e], -e[1], e[0])

    for thresh in thresholds:
        if order == GREEDY:
            while sim:
                i, j = max(sim, key=sim.get)
                if sim[(i, j)] < thresh:
                    break
                merge(i, j)
        else:
            while True:
                best = {}
                for e in sim:
                    for v in e:
                        if v not in best or key(e) > key(best[v]):
                            best[v] = e
                picked = sorted({e for e in best.values() if best[e[0]] == e and best[e[1]] == e
                                 and sim[e] >= thresh}, key=key, reverse=True)
                if not picked:
                    break
                for e in picked:
                    merge(*e)
        level, seen = [], set()
        for (m, n) in sim:
            for v in (m, n):
                if v not in seen:
                    seen.add(v)
                    if clusters[v].size >= min_size:
                        level.append((v, clusters[v].patches))
        levels.append(level)
    return merges, levels


def level_arrays(levels, H, W):
    """labels (T, H, W) and clusters (K, 4) rows (level, size, node, up), as the C test writes them."""
    labels = np.full((len(levels), H, W), -1, np.int32)
    rows = []
    for t, level in enumerate(levels):
        for c, (node, patches) in enumerate(level):
            labels[t].flat[sorted(patches)] = c
            up = -1
            if t + 1 < len(levels):
                ups = [d for d, (_, q) in enumerate(levels[t + 1]) if patches <= q]
                assert len(ups) <= 1
                up = ups[0] if ups else -1
            rows.append((t, len(patches), node, up))
    return labels, np.array(rows, np.int32).reshape(-1, 4)


# --- The conquer steps around it. ----------------------------------------------

def crop_box(mask):
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return 0, 1, 0, 1
    ymin, ymax = np.where(rows)[0][[0, -1]]
    xmin, xmax = np.where(cols)[0][[0, -1]]
    return int(ymin), int(ymax), int(xmin), int(xmax)


def pil_resize(mask255, bh, bw):
    from PIL import Image
    return np.asarray(Image.fromarray(mask255).resize([bw, bh]))


def back_project(mask, bh, bw):
    """The reference's resize_mask + (> 0.5 * 255)."""
    m = pil_resize(np.uint8(mask * 255), bh, bw).astype(np.uint8)
    upper, lower = np.max(m), np.min(m)
    thresh = upper / 2.0
    m[m > thresh] = upper
    m[m <= thresh] = lower
    return (m > 0.5 * 255).astype(np.uint8)


def coverage(m1, m2):
    if np.count_nonzero(m1) == 0:
        return 0
    return np.count_nonzero(np.logical_and(m1, m2)) / np.count_nonzero(m1)


def iou(m1, m2):
    inter = np.count_nonzero(np.logical_and(m1, m2))
    union = np.count_nonzero(m1) + np.count_nonzero(m2) - inter
    return 0 if union == 0 else inter / union


def nms(n, masks, threshold, step):
    """Indices of the kept masks in area order (the reference's NMS on indices)."""
    order = sorted(range(n), key=lambda i: np.count_nonzero(masks[i]), reverse=True)
    kept = list(range(n))
    for i in range(n):
        if i in kept:
            for j in range(i + 1, min(n, i + step)):
                if iou(masks[order[i]], masks[order[j]]) > threshold:
                    kept.remove(j) if j in kept else None
    return [order[i] for i in kept]


def conquer(divide, levels, H, W, min_coverage=0.9, nms_iou=0.9, step=5):
    """Returns box, masks (n, bh, bw), meta (n, 4) rows (level, cluster, parent, area), resize oracle."""
    y0, y1, x0, x1 = crop_box(divide)
    box = np.array([y0, y1, x0, x1], np.int64)
    bh, bw = y1 - y0, x1 - x0
    oracle_src, oracle_dst = [], []
    if bh <= 0 or bw <= 0:
        return box, np.zeros((0, max(bh, 0), max(bw, 0)), np.uint8), np.zeros((0, 4), np.int32), None
    crop = divide[y0:y1, x0:x1]
    cands = []
    for t, level in enumerate(levels):
        for c, (node, patches) in enumerate(level):
            patch_mask = np.zeros((H, W), np.uint8)
            patch_mask.flat[sorted(patches)] = 1
            oracle_src.append(patch_mask * 255)
            oracle_dst.append(pil_resize(np.uint8(patch_mask * 255), bh, bw))
            m = back_project(patch_mask, bh, bw)
            if coverage(m, crop) <= min_coverage:
                continue
            cands.append((m, t + 1, c, node, patches))
    kept = nms(len(cands), [c[0] for c in cands], nms_iou, step)
    out = [cands[i] for i in kept]
    meta = []
    for k, (m, lk, c, node, patches) in enumerate(out):
        parent, best = -1, None
        for j, (_, lj, _, nj, pj) in enumerate(out):
            if lj > lk and patches < pj and (best is None or (len(pj), lj) < best):
                parent, best = j, (len(pj), lj)
        meta.append((lk, c, parent, int(np.count_nonzero(m))))
    masks = np.array([o[0] for o in out], np.uint8).reshape(len(out), bh, bw)
    oracle = (np.array(oracle_src, np.uint8).reshape(-1, H, W), np.array(oracle_dst, np.uint8).reshape(-1, bh, bw))
    return box, masks, np.array(meta, np.int32).reshape(-1, 4), oracle


# --- Features. -------------------------------------------------------------------

def planted(rng, H, W, C, regions, noise, scale_spread=True):
    seeds = np.stack([rng.integers(0, H, regions), rng.integers(0, W, regions)], 1)
    yy, xx = np.mgrid[0:H, 0:W]
    label = np.argmin((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2, axis=-1)
    centres = rng.standard_normal((regions, C)) + 0.5
    scale = rng.uniform(0.5, 3.0, (H, W, 1)) if scale_spread else 1.0
    return (centres[label] * scale + noise * rng.standard_normal((H, W, C))).astype(np.float32)


def photo_features(img):
    """Per 8x8 patch of a 256 x 256 RGB image: mean and std of RGB and HSV, gradient
    energy along x and y, a 4-bin orientation histogram; z-scored over the grid."""
    from PIL import Image
    rgb = np.asarray(img.convert("RGB").resize((256, 256)), np.float64) / 255
    hsv = np.asarray(img.convert("RGB").resize((256, 256)).convert("HSV"), np.float64) / 255
    gray = rgb.mean(-1)
    gy, gx = np.gradient(gray)
    ang = (np.arctan2(gy, gx) % np.pi) / np.pi * 4
    mag = np.hypot(gx, gy)
    def patches(a):
        return a.reshape(32, 8, 32, 8, -1).transpose(0, 2, 1, 3, 4).reshape(32, 32, 64, -1)
    p_rgb, p_hsv = patches(rgb), patches(hsv)
    p_mag, p_ang = patches(mag[..., None])[..., 0], patches(ang[..., None])[..., 0]
    hist = np.stack([(p_mag * (np.floor(p_ang) == b)).sum(-1) for b in range(4)], -1)
    f = np.concatenate([p_rgb.mean(2), p_rgb.std(2), p_hsv.mean(2), p_hsv.std(2),
                        (patches(np.abs(gx)[..., None])).mean((2, 3))[..., None],
                        (patches(np.abs(gy)[..., None])).mean((2, 3))[..., None], hist], -1)
    f = (f - f.mean((0, 1))) / (f.std((0, 1)) + 1e-6)
    return f.astype(np.float32)


def texture_features(img, rng):
    """Centred raw 8x8x3 patches projected to 96 dimensions: a texture-like descriptor."""
    rgb = np.asarray(img.convert("RGB").resize((256, 256)), np.float64) / 255
    p = rgb.reshape(32, 8, 32, 8, 3).transpose(0, 2, 1, 3, 4).reshape(32, 32, 192)
    p = p - p.mean((0, 1))
    return (p @ rng.standard_normal((192, 96))).astype(np.float32)


# --- Driver. ---------------------------------------------------------------------

def run_binary(binary, mode, indir, names):
    outs = []
    for k in range(2):
        out = tempfile.mkdtemp(dir=indir, prefix=f"run{k}_")
        r = subprocess.run([binary, mode, indir, out] + names, capture_output=True, text=True)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        if r.returncode != 0:
            print(f"FAIL: {os.path.basename(binary)} {mode} exited with {r.returncode}")
            sys.exit(1)
        outs.append(out)
    failures = 0
    for f in sorted(os.listdir(outs[0])):
        a, b = (open(os.path.join(o, f), "rb").read() for o in outs)
        if a != b:
            print(f"FAIL: {f} differs between two runs")
            failures += 1
    if sorted(os.listdir(outs[0])) != sorted(os.listdir(outs[1])):
        print("FAIL: the two runs wrote different files")
        failures += 1
    return outs[0], failures


def save_merge_case(d, name, features, thresholds=THETAS, min_size=4, order=GREEDY):
    np.save(os.path.join(d, f"{name}.features.npy"), features)
    np.save(os.path.join(d, f"{name}.params.npy"), np.array([min_size, order] + list(thresholds), np.float64))


def compare_merge(out, name, features, thresholds=THETAS, min_size=4, order=GREEDY):
    H, W, _ = features.shape
    merges, levels = iterative_merge(features, thresholds, min_size, order)
    labels, clusters = level_arrays(levels, H, W)
    got = {k: np.load(os.path.join(out, f"{name}.{k}.npy")) for k in ("merges", "weights", "labels", "clusters")}
    want_merges = np.array([(i, j) for i, j, _ in merges], np.int32).reshape(-1, 2)
    want_weights = np.array([w for _, _, w in merges], np.float32)
    problems = []
    if got["merges"].shape != want_merges.shape or not np.array_equal(got["merges"], want_merges):
        n = min(len(got["merges"]), len(want_merges))
        first = next((k for k in range(n) if tuple(got["merges"][k]) != tuple(want_merges[k])), n)
        problems.append(f"merge sequence differs at merge {first} ({len(got['merges'])} vs {len(want_merges)} merges)")
    elif not np.array_equal(got["weights"], want_weights):  # exact, with -0.0 == 0.0 as in the key order
        problems.append("merge weights differ")
    if not np.array_equal(got["labels"], labels):
        bad = [t for t in range(len(thresholds)) if not np.array_equal(got["labels"][t], labels[t])]
        problems.append(f"level label maps differ at levels {bad}")
    if not np.array_equal(got["clusters"], clusters):
        problems.append("cluster table (level, size, node, up) differs")
    status = "ok" if not problems else "FAIL: " + "; ".join(problems)
    counts = [len(level) for level in levels]
    print(f"{name}: {H}x{W}x{features.shape[2]} {features.dtype}, {len(merges)} merges, clusters per level {counts}: {status}")
    return len(problems) > 0, levels


def synthetic_merge_cases(rng):
    cases = []
    for k, (noise, regions) in enumerate([(0.2, 6), (0.5, 12), (1.0, 20), (2.0, 8)]):
        cases.append((f"planted{k}", planted(rng, 32, 32, 768, regions, noise), {}))
    cases.append(("planted_c8", planted(rng, 32, 32, 8, 10, 0.4), {}))
    cases.append(("random_c768", rng.standard_normal((32, 32, 768)).astype(np.float32), {}))
    cases.append(("random_c4", rng.standard_normal((32, 32, 4)).astype(np.float32), {}))
    cases.append(("random_offset", (rng.standard_normal((32, 32, 16)) + 0.3).astype(np.float32), {}))
    cases.append(("ties_constant_regions", planted(rng, 32, 32, 6, 7, 0.0, scale_spread=False), {}))
    cases.append(("ties_all_equal", np.ones((16, 16, 5), np.float32), {}))
    cases.append(("ties_binary_c3", rng.integers(0, 2, (24, 24, 3)).astype(np.float32), {}))
    cases.append(("ties_c1", rng.choice([-2.0, 1.0, 3.0], (9, 11, 1)).astype(np.float32), {"min_size": 1}))
    cases.append(("ties_zero_patches", np.where(rng.random((12, 12, 1)) < 0.3, 0.0,
                                                rng.integers(1, 3, (12, 12, 4))).astype(np.float32), {}))
    cases.append(("fp16_planted", planted(rng, 32, 32, 768, 9, 0.6).astype(np.float16), {}))
    cases.append(("fp16_random", (rng.standard_normal((32, 32, 64)) + 0.2).astype(np.float16), {}))
    cases.append(("grid_1x1", rng.standard_normal((1, 1, 3)).astype(np.float32), {}))
    cases.append(("grid_1x7", rng.standard_normal((1, 7, 3)).astype(np.float32), {"min_size": 1}))
    cases.append(("grid_7x1", rng.standard_normal((7, 1, 3)).astype(np.float32), {"min_size": 2}))
    cases.append(("grid_5x13", planted(rng, 5, 13, 3, 4, 0.3), {}))
    cases.append(("grid_13x5_min1", planted(rng, 13, 5, 7, 4, 0.5), {"min_size": 1}))
    cases.append(("to_one_cluster", planted(rng, 10, 10, 4, 3, 0.5),
                  {"thresholds": [0.9, 0.0, -1.0], "min_size": 3}))
    cases.append(("custom_thresholds", planted(rng, 20, 17, 32, 6, 0.8), {"thresholds": [0.95, 0.7, 0.35, -0.2]}))
    for k in range(30):  # small grids of a few integer values: ties everywhere, zero vectors
        h, w, c = int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 3))
        f = rng.integers(-1, 3, (h, w, c)).astype(np.float32)
        cases.append((f"ties_small{k}", f, {"min_size": int(rng.integers(1, 4)),
                                            "thresholds": [0.99, 0.5, 0.0, -0.5, -1.0]}))
    for name, f, kw in list(cases):
        if f.shape[0] * f.shape[1] > 1:
            cases.append((name + "_passes", f, dict(kw, order=PASSES)))
    return cases


def run_merge_cases(binary, cases):
    with tempfile.TemporaryDirectory() as d:
        for name, f, kw in cases:
            save_merge_case(d, name, f, **kw)
        out, failures = run_binary(binary, "merge", d, [c[0] for c in cases])
        levels_of = {}
        for name, f, kw in cases:
            bad, levels = compare_merge(out, name, f, **kw)
            failures += bad
            levels_of[name] = levels
    return failures, levels_of


def patch_sets(levels):
    return [sorted(sorted(p) for _, p in level) for level in levels]


def report_pass_differences(cases, levels_of):
    """How often the pass variant's hierarchy differs from the greedy one (masks per level as sets)."""
    same_levels = total_levels = same_cases = n = 0
    iou_all = []
    for name, f, kw in cases:
        if name.endswith("_passes"):
            continue
        if name + "_passes" not in levels_of:
            continue
        g, p = patch_sets(levels_of[name]), patch_sets(levels_of[name + "_passes"])
        eq = [a == b for a, b in zip(g, p)]
        same_levels += sum(eq)
        total_levels += len(eq)
        same_cases += all(eq)
        n += 1
        if not all(eq):
            shared, best_iou = [], []
            for a, b in zip(g, p):
                sa, sb = {tuple(m) for m in a}, {tuple(m) for m in b}
                shared.append(len(sa & sb) / max(1, len(sa | sb)))
                ious = [max((len(set(m) & set(q)) / len(set(m) | set(q)) for q in b), default=0.0) for m in a]
                best_iou.append(float(np.mean(ious)) if ious else 1.0)
                iou_all.extend(ious)
            print(f"  passes vs greedy, {name}: identical masks / all masks per level "
                  + " ".join(f"{j:.2f}" for j in shared) + "; mean best IoU of a greedy mask "
                  + " ".join(f"{j:.2f}" for j in best_iou))
        else:
            iou_all.extend([1.0] * sum(len(level) for level in g))
    print(f"passes vs greedy: identical hierarchy in {same_cases}/{n} grids, identical levels "
          f"{same_levels}/{total_levels}, mean best IoU of a greedy mask {np.mean(iou_all) if iou_all else 1.0:.3f}")


def mode_merge(binary):
    rng = np.random.default_rng(20240607)
    cases = synthetic_merge_cases(rng)
    failures, levels_of = run_merge_cases(binary, cases)
    report_pass_differences(cases, levels_of)
    return failures


def bsds_images(count):
    if not os.path.isdir(BSDS_VAL):
        print(f"skipped: BSDS500 photos not found at {BSDS_VAL}")
        sys.exit(77)
    from PIL import Image
    names = sorted(f for f in os.listdir(BSDS_VAL) if f.endswith(".jpg"))[:count]
    return [(os.path.splitext(n)[0], Image.open(os.path.join(BSDS_VAL, n))) for n in names]


def ellipse_mask(rng, H, W):
    cy, cx = rng.uniform(0.2, 0.8) * H, rng.uniform(0.2, 0.8) * W
    ry, rx = rng.uniform(0.1, 0.4) * H, rng.uniform(0.1, 0.4) * W
    yy, xx = np.mgrid[0:H, 0:W]
    wobble = 1 + 0.15 * np.sin(3 * np.arctan2(yy - cy, xx - cx) + rng.uniform(0, 6))
    return (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < wobble).astype(np.uint8)


def save_conquer_case(d, name, features, divide, levels, H, W):
    box, masks, meta, oracle = conquer(divide, levels, H, W)
    np.save(os.path.join(d, f"{name}.features.npy"), features)
    np.save(os.path.join(d, f"{name}.params.npy"), np.array([4, GREEDY] + THETAS, np.float64))
    np.save(os.path.join(d, f"{name}.divide.npy"), divide)
    if oracle is not None:
        np.save(os.path.join(d, f"{name}.resize_src.npy"), oracle[0])
        np.save(os.path.join(d, f"{name}.resize_dst.npy"), oracle[1])
    return box, masks, meta


def compare_conquer(out, name, want):
    box, masks, meta = want
    got = {k: np.load(os.path.join(out, f"{name}.{k}.npy")) for k in ("box", "masks", "meta")}
    problems = []
    if not np.array_equal(got["box"], box):
        problems.append(f"box {got['box'].tolist()} != {box.tolist()}")
    if got["masks"].shape != masks.shape or not np.array_equal(got["masks"], masks):
        problems.append(f"masks differ ({got['masks'].shape} vs {masks.shape})")
    if got["meta"].shape != meta.shape or not np.array_equal(got["meta"], meta):
        problems.append("meta (level, cluster, parent, area) differs")
    roots = int((meta[:, 2] == -1).sum()) if len(meta) else 0
    status = "ok" if not problems else "FAIL: " + "; ".join(problems)
    print(f"{name}: box {box.tolist()}, {len(masks)} conquer masks ({roots} under the divide mask): {status}")
    return len(problems) > 0


def run_conquer_cases(binary, cases):
    """cases: (name, features, divide mask); the level masks come from the reference merge."""
    with tempfile.TemporaryDirectory() as d:
        wants = {}
        for name, f, divide in cases:
            _, levels = iterative_merge(f, THETAS)
            wants[name] = save_conquer_case(d, name, f, divide, levels, f.shape[0], f.shape[1])
        out, failures = run_binary(binary, "conquer", d, [c[0] for c in cases])
        for name, _, _ in cases:
            failures += compare_conquer(out, name, wants[name])
    return failures


def mode_photos(binary):
    from PIL import Image
    rng = np.random.default_rng(77)
    images = bsds_images(4)
    cases = []
    for stem, img in images:
        cases.append((f"bsds{stem}_colour", photo_features(img), {}))
        cases.append((f"bsds{stem}_texture", texture_features(img, rng), {}))
        cases.append((f"bsds{stem}_colour_fp16", photo_features(img).astype(np.float16), {}))
    for name, f, kw in list(cases):
        cases.append((name + "_passes", f, dict(kw, order=PASSES)))
    failures, levels_of = run_merge_cases(binary, cases)
    report_pass_differences(cases, levels_of)

    # Conquer on crops: an irregular divide mask per photo, the crop (with the
    # reference's exclusive end) resized to 256 x 256, features of the crop.
    conquer_cases = []
    for stem, img in images:
        rgb = np.asarray(img.convert("RGB"))
        divide = ellipse_mask(rng, *rgb.shape[:2])
        y0, y1, x0, x1 = crop_box(divide)
        crop = Image.fromarray(rgb[y0:y1, x0:x1])
        conquer_cases.append((f"bsds{stem}_conquer", photo_features(crop), divide))
    failures += run_conquer_cases(binary, conquer_cases)
    return failures


def mode_conquer(binary):
    rng = np.random.default_rng(4242)
    cases = []
    for k, (H, W) in enumerate([(120, 160), (90, 70), (300, 200)]):
        divide = ellipse_mask(rng, H, W)
        cases.append((f"blob{k}", planted(rng, 32, 32, 16, 8 + 4 * k, 0.5), divide))
    small = np.zeros((40, 50), np.uint8)
    small[10:22, 5:25] = 1  # a 12 x 20 box: the crop is smaller than the grid (downscale)
    cases.append(("small_crop", planted(rng, 32, 32, 8, 10, 0.4), small))
    thin = np.zeros((30, 30), np.uint8)
    thin[5:7, 3:20] = 1  # crop of one row after the exclusive end
    cases.append(("one_row_crop", planted(rng, 32, 32, 8, 5, 0.4), thin))
    line = np.zeros((30, 30), np.uint8)
    line[5, 3:20] = 1  # one-pixel side: the reference skips it
    cases.append(("skipped_mask", planted(rng, 32, 32, 8, 5, 0.4), line))
    cases.append(("empty_mask", planted(rng, 32, 32, 8, 5, 0.4), np.zeros((20, 20), np.uint8)))
    full = np.ones((64, 48), np.uint8)  # everything covered: many near-duplicates for the NMS
    cases.append(("full_mask", planted(rng, 32, 32, 12, 20, 0.3), full))
    cases.append(("ties_conquer", planted(rng, 32, 32, 4, 12, 0.0, scale_spread=False), ellipse_mask(rng, 80, 80)))
    failures = run_conquer_cases(binary, cases)

    # NMS alone: near-duplicates with equal areas and runs of equal areas longer than the window.
    with tempfile.TemporaryDirectory() as d:
        nms_cases = []
        for k in range(6):
            n, H, W = int(rng.integers(1, 30)), 12, 14
            base = (rng.random((max(1, n // 3), H, W)) < rng.uniform(0.2, 0.8)).astype(np.uint8)
            masks = base[rng.integers(0, len(base), n)].copy()
            for m in masks:
                flips = rng.integers(0, H * W, int(rng.integers(0, 8)))
                m.flat[flips] ^= 1
            iou_t, step = [(0.9, 5), (0.5, 3), (0.0, 1), (0.9, 40), (0.7, 2), (0.95, 5)][k]
            name = f"nms{k}"
            np.save(os.path.join(d, f"{name}.masks.npy"), masks)
            np.save(os.path.join(d, f"{name}.params.npy"), np.array([iou_t, step], np.float64))
            nms_cases.append((name, masks, iou_t, step))
        out, bad = run_binary(binary, "nms", d, [c[0] for c in nms_cases])
        failures += bad
        for name, masks, iou_t, step in nms_cases:
            want = np.array(nms(len(masks), list(masks), iou_t, step), np.int32)
            got = np.load(os.path.join(out, f"{name}.kept.npy"))
            ok = np.array_equal(got, want)
            failures += not ok
            print(f"{name}: {len(masks)} masks, IoU {iou_t}, step {step}, kept {len(want)}: "
                  f"{'ok' if ok else 'FAIL: got ' + str(got.tolist()) + ' want ' + str(want.tolist())}")
    return failures


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("merge", "photos", "conquer"):
        print(__doc__)
        return 2
    try:
        import PIL  # noqa: F401
    except ImportError:
        print("skipped: PIL unavailable (apt-get install python3-pil)")
        return 77
    start = time.time()
    failures = {"merge": mode_merge, "photos": mode_photos, "conquer": mode_conquer}[sys.argv[1]](sys.argv[2])
    print(f"{sys.argv[1]}: {failures} failure(s) in {time.time() - start:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
