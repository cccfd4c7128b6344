#!/usr/bin/env python3
"""Dense CRF: useg vs pydensecrf2 on the same image and unary, same run.

usage: bench_crf.py BENCH_BINARY BUILD_ROOT SOURCE_ROOT [--reps N]

Cases: MaskCut's CRF (480 x 480, 2 labels, 10 iterations) on a shared
BSDS500 photo resized as MaskCut does (a synthetic scene when the photos are
absent), the same for an image's 3 masks (useg_dense_crf_batch, one call;
pydensecrf: 3 calls), and STEGO's (27 labels) on the photo at 321 x 481. pydensecrf is
timed from DenseCRF2D() to the argmax of Q, as crf.py runs it (it is
single-threaded); useg's useg_dense_crf covers the same work, with
OMP_NUM_THREADS 1 and 2. Reported: medians of REPS runs after a warm-up.
pydensecrf2 comes from the venv tests/pseudolabel/densecrf_venv.py sets up.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("build_root")
    ap.add_argument("source_root")
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    tests = os.path.join(args.source_root, "tests", "pseudolabel")
    sys.path.insert(0, tests)
    if not os.environ.get("USEG_IN_DENSECRF_VENV"):
        import densecrf_venv
        py = densecrf_venv.python(args.build_root)
        if py is None:
            return 77
        os.environ["USEG_IN_DENSECRF_VENV"] = "1"
        os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
    import pydensecrf.densecrf  # noqa: F401 (fail early)
    from PIL import Image
    import test_crf as T

    rng = np.random.default_rng(5)
    photos = T.load_photos(args.source_root)
    name, img = photos[0] if photos else ("synthetic", T.scene(rng, 321, 481))
    im480 = np.asarray(Image.fromarray(img).resize((480, 480), Image.LANCZOS))
    masks = [T.maskcut_unary(T.patch_mask(im480, rng, kind)) for kind in ("colour", "ellipse", "ellipse")]
    cases = [(f"maskcut {name} 480x480 L=2", "maskcut", im480, masks[0]),
             (f"maskcut {name} 3 masks, batched", "maskcut", im480, np.stack(masks)),
             (f"stego {name} {img.shape[0]}x{img.shape[1]} L=27", "stego", img,
              T.unary_from_logits(T.stego_logits(img, rng, 27)))]
    print(f"dense CRF, 10 mean-field iterations, median of {args.reps} runs")
    print(f"{'case':<36} | {'useg 1T ms':>10} {'useg 2T ms':>10} {'pydensecrf ms':>13} | {'1T ratio':>8} {'2T ratio':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for label, preset, image, unary in cases:
            np.save(os.path.join(folder, "image.npy"), image)
            np.save(os.path.join(folder, "unary.npy"), unary)
            ours = {}
            for threads in (1, 2):
                cmd = [args.binary, preset, os.path.join(folder, "image.npy"), os.path.join(folder, "unary.npy"),
                       str(args.reps)]
                r = subprocess.run(cmd, env=dict(os.environ, OMP_NUM_THREADS=str(threads)), capture_output=True,
                                   text=True)
                if r.returncode:
                    sys.exit(f"{' '.join(cmd)} failed: {r.stderr.strip()}")
                ours[threads] = float(dict(f.split("=") for f in r.stdout.split())["median_ms"])
            times = []
            for rep in range(args.reps + 1):
                t0 = time.perf_counter()
                for u in unary if unary.ndim == 4 else [unary]:  # pydensecrf: one problem per call
                    np.argmax(T.reference_crf(image, u, preset), axis=0)
                if rep:
                    times.append((time.perf_counter() - t0) * 1e3)
            peer = sorted(times)[len(times) // 2]
            print(f"{label:<36} | {ours[1]:>10.1f} {ours[2]:>10.1f} {peer:>13.1f} | {ours[1] / peer:>8.2f} "
                  f"{ours[2] / peer:>8.2f}")
    print("ratio = useg / pydensecrf (lower is better)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
