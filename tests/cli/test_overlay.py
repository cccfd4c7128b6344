#!/usr/bin/env python3
"""`useg overlay` end to end.

Usage: test_overlay.py USEG

- A hierarchy file (levels 0..2, info.conquer_thresholds) over photos made
  here with PIL: one PNG per image and level present, named from image ids,
  each the size of the photo capped by --max-side; a photo over the cap is
  PIL's bilinear resize of it, and an overlay is, byte for byte, the NumPy
  computation of the formula (tests/data/overlay_ref.py) over that photo and
  the masks sampled with PIL's nearest rule. index.html, parsed with
  html.parser: the column names, a row per image with the photo first, the
  mask counts, "no masks" where an image lacks a level, links and sources
  that are files of the folder, no script and nothing external, a file
  name with <&"' shown as itself (escaped in the source).
- A file without "level": one img<ID>_all.png per image, column "masks".
- Running twice writes identical files.
- Bad input: a missing image (skipped, named, marked on the page, the rest
  drawn, exit 1); malformed JSON, a bad "level", a missing image folder, an
  output path that is a file (exit 1, one line, nothing written); usage
  errors (exit 2). No temporary file is ever left.
Exits 77 when numpy/PIL are missing.
"""
import html.parser
import json
import os
import sys
import tempfile

try:
    import numpy as np
    from PIL import Image
except ImportError as e:
    print(f"skipped: numpy/PIL unavailable ({e})")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, ".."), os.path.join(HERE, "..", "data")]
from cli_check import check, failures  # noqa: E402
from cli_check import run as run_command  # noqa: E402
from coco_rle import encode as rle_encode  # noqa: E402
from overlay_ref import reference  # noqa: E402  (the NumPy formula)

USEG = sys.argv[1]


def run(args, expect):
    return run_command(USEG, "overlay", args, expect)


def annotation(i, image_id, mask, level=None, parent=None):
    ys, xs = np.nonzero(mask)
    a = {"id": i, "image_id": image_id, "category_id": 1,
         "segmentation": {"size": list(mask.shape), "counts": rle_encode(mask)},
         "area": int(mask.sum()), "bbox": [int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1],
         "iscrowd": 0, "score": 1.0}
    if level is not None:
        a["level"] = level
        a["parent_id"] = parent
    return a


def photo(rng, h, w):
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1)
    return np.clip(img + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)


def box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def random_box(rng, h, w):
    y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
    return box(h, w, y0, int(rng.integers(y0 + 1, h + 1)), x0, int(rng.integers(x0 + 1, w + 1)))


class Page(html.parser.HTMLParser):
    """Rows of cells: (tag, text, [img src], [a href]); every tag seen."""

    def __init__(self):
        super().__init__()
        self.rows, self.tags, self.cell = [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self.cell = [tag, "", [], []]
            self.rows[-1].append(self.cell)
        elif tag == "img" and self.cell:
            self.cell[2].append(a.get("src"))
        elif tag == "a" and self.cell:
            self.cell[3].append(a.get("href"))

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.cell = None

    def handle_data(self, data):
        if self.cell:
            self.cell[1] += data


def parse(path):
    p = Page()
    with open(path, encoding="utf-8") as f:
        p.feed(f.read())
    return p


def no_temporaries(folder, what):
    left = [n for n in os.listdir(folder) if ".tmp" in n] if os.path.isdir(folder) else []
    check(not left, f"{what}: no temporary files left ({left})")


def nearest(mask, dh, dw):
    """PIL's NEAREST: pixel centres, in = floor((out + 0.5) * in_size / out_size)."""
    h, w = mask.shape
    ys = np.floor((np.arange(dh) + 0.5) * h / dh).astype(int)
    xs = np.floor((np.arange(dw) + 0.5) * w / dw).astype(int)
    return mask[ys][:, xs]


def test_hierarchy(tmp):
    rng = np.random.default_rng(3)
    imgs = os.path.join(tmp, "photos")
    os.makedirs(imgs)
    # (id, file name, h, w): one over the --max-side 100 cap, one with a name to escape, one missing.
    specs = [(7, "a.png", 60, 90), (3, "big.png", 150, 200), (12, 'c<&>"\'.png', 31, 17), (5, "gone.png", 20, 20)]
    doc = {"info": {"description": "test", "conquer_thresholds": [0.6, 0.5]},
           "images": [{"id": i, "file_name": n, "height": h, "width": w} for i, n, h, w in specs],
           "annotations": [], "categories": [{"id": 1, "name": "fg", "supercategory": "fg"}]}
    masks = {}   # (image id, level) -> list of masks in file order
    for i, n, h, w in specs:
        if n != "gone.png":
            Image.fromarray(photo(rng, h, w)).save(os.path.join(imgs, n))
        levels = {7: [0, 1, 2], 3: [0, 2], 12: [1], 5: [0]}[i]
        for level in levels:
            k = 2 + level
            ms = [random_box(rng, h, w) for _ in range(k)]
            ms[0] = box(h, w, 0, h, 0, w) if level == 2 else ms[0]   # a whole-image mask under the others
            masks[(i, level)] = ms
    # Annotations interleaved across levels in file order, as a conquer step writes them.
    order = sorted(masks, key=lambda key: (key[0] != 7, key[1] % 2, key))
    for key in order:
        for m in masks[key]:
            doc["annotations"].append(annotation(len(doc["annotations"]) + 1, key[0], m, key[1]))
    ann = os.path.join(tmp, "h.json")
    with open(ann, "w") as f:
        json.dump(doc, f)
    out = os.path.join(tmp, "out")
    r = run(["--annotations", ann, "--images", imgs, "--out", out, "--max-side", "100"], 1)
    check(r.stdout.strip().splitlines()[-1] == os.path.join(out, "index.html"), "the last line is index.html's path")
    check(len(r.stderr.strip().splitlines()) == 1 and "gone.png" in r.stderr and "id 5" in r.stderr,
          f"the missing image is named on one line: {r.stderr.strip()}")
    want = {"img7.png", "img7_level0.png", "img7_level1.png", "img7_level2.png", "img3.png", "img3_level0.png",
            "img3_level2.png", "img12.png", "img12_level1.png", "index.html"}
    check(set(os.listdir(out)) == want, f"files: {sorted(os.listdir(out))}")
    no_temporaries(out, "hierarchy")

    # Pixels: photo as PIL shrinks it, overlays as NumPy draws them.
    for i, n, h, w in specs[:3]:
        src = np.asarray(Image.open(os.path.join(imgs, n)).convert("RGB"))
        scale = min(1.0, 100 / max(h, w))
        dh, dw = max(1, int(h * scale + 0.5)), max(1, int(w * scale + 0.5))
        small = np.asarray(Image.fromarray(src).resize((dw, dh), Image.BILINEAR)) if scale < 1 else src
        got = np.asarray(Image.open(os.path.join(out, f"img{i}.png")))
        check(got.shape == (dh, dw, 3) and (got == small).all(), f"img{i}.png is the photo at {dh}x{dw}")
        for (j, level), ms in masks.items():
            if j != i:
                continue
            stack = np.stack([nearest(m, dh, dw) for m in ms]).astype(np.uint8)
            got = np.asarray(Image.open(os.path.join(out, f"img{i}_level{level}.png")))
            check(got.shape == (dh, dw, 3) and (got == reference(small, stack)).all(),
                  f"img{i}_level{level}.png: {len(ms)} masks drawn at {dh}x{dw} as NumPy draws them")

    page = parse(os.path.join(out, "index.html"))
    head = [c[1] for c in page.rows[0]]
    check(head == ["image", "photo", "divide", "level 1 (\u03b8 = 0.6)", "level 2 (\u03b8 = 0.5)"], f"columns {head}")
    rows = page.rows[1:]
    check(len(rows) == 4, f"{len(rows)} rows, one per image")
    for row, (i, n, h, w) in zip(rows, specs):
        check(row[0][1].startswith(n), f"row of {n!r} names it: {row[0][1]!r}")
        if n == "gone.png":
            check(len(row) == 2 and "skipped" in row[1][1] and "gone.png" in row[1][1], "the missing image's row")
            continue
        check(row[1][2] == [f"img{i}.png"] and row[1][3] == [f"img{i}.png"], f"image {i}: the photo first")
        for cell, level in zip(row[2:], [0, 1, 2]):
            ms = masks.get((i, level))
            if ms is None:
                check(cell[1].strip() == "no masks" and not cell[2], f"image {i} level {level}: no masks")
            else:
                name = f"img{i}_level{level}.png"
                count = f"{len(ms)} masks"
                check(cell[2] == [name] and cell[3] == [name] and cell[1].strip() == count,
                      f"image {i} level {level}: thumbnail, link and '{count}' ({cell[1].strip()!r})")
    with open(os.path.join(out, "index.html"), encoding="utf-8") as f:
        source = f.read()
    check("c&lt;&amp;&gt;&quot;&#39;.png" in source and 'c<&>"' not in source, "the odd file name is escaped")
    refs = [a.get("src") or a.get("href") for t, a in page.tags if t in ("img", "a", "link", "script")]
    check(all(r in want for r in refs) and not any(t == "script" for t, _ in page.tags),
          "no script, every link and source a file of the folder")

    # Deterministic: a second run writes the same bytes.
    first = {n: open(os.path.join(out, n), "rb").read() for n in want}
    run(["--annotations", ann, "--images", imgs, "--out", out, "--max-side", "100"], 1)
    check(all(open(os.path.join(out, n), "rb").read() == first[n] for n in want), "a second run, the same files")
    return ann, imgs


def test_flat(tmp, imgs):
    doc = {"images": [{"id": 1, "file_name": "a.png", "height": 60, "width": 90}],
           "annotations": [annotation(1, 1, box(60, 90, 5, 30, 5, 50)), annotation(2, 1, box(60, 90, 10, 20, 10, 20))],
           "categories": [{"id": 1, "name": "fg"}]}
    ann = os.path.join(tmp, "flat.json")
    with open(ann, "w") as f:
        json.dump(doc, f)
    out = os.path.join(tmp, "flat")
    run(["--annotations", ann, "--images", imgs, "--out", out], 0)
    check(sorted(os.listdir(out)) == ["img1.png", "img1_all.png", "index.html"], f"no levels: {os.listdir(out)}")
    page = parse(os.path.join(out, "index.html"))
    check([c[1] for c in page.rows[0]] == ["image", "photo", "masks"], "no levels: one column 'masks'")
    check(page.rows[1][2][1].strip() == "2 masks", "no levels: the mask count")


def test_bad_input(tmp, ann, imgs):
    def one_line_nothing_written(r, out, what):
        lines = r.stderr.strip().splitlines()
        check(len(lines) == 1 and lines[0].startswith("useg overlay: "), f"{what}: one line: {r.stderr.strip()}")
        check(not os.path.exists(out) or os.listdir(out) == [], f"{what}: nothing written")
        no_temporaries(tmp, what)

    bad = os.path.join(tmp, "bad.json")
    with open(bad, "w") as f:
        f.write('{"images": [{"id": 1,')
    out = os.path.join(tmp, "o1")
    r = run(["--annotations", bad, "--images", imgs, "--out", out], 1)
    one_line_nothing_written(r, out, "malformed JSON")
    check("bad.json" in r.stderr, "malformed JSON: the file is named")

    with open(ann) as f:
        doc = json.load(f)
    doc["annotations"][3]["level"] = "coarse"
    with open(bad, "w") as f:
        json.dump(doc, f)
    r = run(["--annotations", bad, "--images", imgs, "--out", out], 1)
    one_line_nothing_written(r, out, "a bad level")
    check("annotations[3]" in r.stderr and "level" in r.stderr, "a bad level: the annotation is named")
    del doc["annotations"][3]["level"]
    with open(bad, "w") as f:
        json.dump(doc, f)
    r = run(["--annotations", bad, "--images", imgs, "--out", out], 1)
    one_line_nothing_written(r, out, "a level missing from one annotation")

    r = run(["--annotations", os.path.join(tmp, "absent.json"), "--images", imgs, "--out", out], 1)
    one_line_nothing_written(r, out, "a missing annotations file")
    r = run(["--annotations", ann, "--images", os.path.join(tmp, "nowhere"), "--out", out], 1)
    one_line_nothing_written(r, out, "a missing image folder")
    check("nowhere" in r.stderr, "a missing image folder is named")

    a_file = os.path.join(tmp, "a_file")
    with open(a_file, "w") as f:
        f.write("x")
    r = run(["--annotations", ann, "--images", imgs, "--out", a_file], 1)
    check(len(r.stderr.strip().splitlines()) == 1 and "a_file" in r.stderr, f"output is a file: {r.stderr.strip()}")
    check(open(a_file).read() == "x", "output is a file: left alone")

    r = run(["--annotations", ann, "--images", imgs, "--out", os.path.join(a_file, "sub")], 1)
    check(len(r.stderr.strip().splitlines()) == 1 and "cannot create" in r.stderr,
          f"an output folder under a file: {r.stderr.strip()}")
    nested = os.path.join(tmp, "new", "nested")
    run(["--annotations", ann, "--images", imgs, "--out", nested], 1)  # h.json names one missing photo
    check(os.path.isfile(os.path.join(nested, "index.html")), "missing parent folders of --out are created")

    for args in ([], ["--annotations", ann, "--images", imgs], ["--annotations", ann, "--images", imgs, "--out", out,
                 "--max-side", "0"], ["--annotations", ann, "--images", imgs, "--out", out, "--max-side", "9x"],
                 ["--annotations", ann, "--images", imgs, "--out", out, "extra"], ["--bogus"]):
        run(args, 2)
    r = run(["--help"], 0)
    check("--max-side" in r.stdout and "index.html" in r.stdout, "--help describes the command")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        ann, imgs = test_hierarchy(tmp)
        test_flat(tmp, imgs)
        test_bad_input(tmp, ann, imgs)
    print(f"overlay cli: {failures()} failed")
    return 1 if failures() else 0


if __name__ == "__main__":
    sys.exit(main())
