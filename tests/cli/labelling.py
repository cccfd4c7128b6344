"""Helpers shared by the labelling commands' end-to-end tests (test_maskcut.py,
test_unsam.py): running useg (cli_check's counted checks), synthetic scenes with known
objects, the compressed-RLE decoder (tests/coco_rle.py), killing a run after some parts."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
from PIL import Image, ImageDraw

from cli_check import check, failures  # noqa: F401 (re-exported to the tests)
from cli_check import run as run_command

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from coco_rle import decode as rle_decode  # noqa: E402,F401 (re-exported to the tests)

USEG = None  # set by the test script
PALETTE = [(220, 40, 40), (40, 70, 220), (40, 200, 220), (200, 60, 220)]


def scene(seed):
    """(image (H, W, 3) u8, object masks): 1 + seed % 3 objects (ellipse, box or
    triangle) in cells of a 2 x 2 grid, striped and noisy, on a grey background."""
    rng = np.random.default_rng(seed)
    H, W = int(rng.integers(240, 360)), int(rng.integers(300, 420))
    y, x = np.mgrid[0:H, 0:W]
    img = np.array([125, 125, 120]) + rng.uniform(-10, 10, 3) + rng.normal(0, 4, (H, W, 3))
    n = 1 + seed % 3
    masks = []
    for cell, colour in zip(rng.permutation(4)[:n], rng.permutation(len(PALETTE))[:n]):
        x0, y0 = (cell % 2) * W // 2, (cell // 2) * H // 2
        r = int(min(H, W) / 2 * rng.uniform(0.28, 0.36))
        cx, cy = x0 + W // 4 + int(rng.integers(-8, 9)), y0 + H // 4 + int(rng.integers(-8, 9))
        m = Image.new("L", (W, H))
        d = ImageDraw.Draw(m)
        kind = int(rng.integers(0, 3))
        if kind == 0:
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
        elif kind == 1:
            d.rectangle([cx - r, cy - int(0.8 * r), cx + r, cy + int(0.8 * r)], fill=1)
        else:
            d.polygon([(cx, cy - r), (cx + r, cy + r), (cx - r, cy + r)], fill=1)
        m = np.asarray(m).astype(bool)
        texture = (np.array(PALETTE[colour], float) + 8 * np.sign(np.sin((x + y) / 3.0))[..., None]
                   + rng.normal(0, 5, (H, W, 3)))
        img[m] = texture[m]
        masks.append(m)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), masks


def write_scenes(folder, seeds):
    """The scenes of `seeds` saved in folder as sceneNN.png (even seeds) or .jpg
    (odd, quality 95); returns {file name: object masks}."""
    os.makedirs(folder)
    truth = {}
    for s in seeds:
        img, masks = scene(s)
        name = f"scene{s:02d}.{'jpg' if s % 2 else 'png'}"
        Image.fromarray(img).save(os.path.join(folder, name), quality=95)
        truth[name] = masks
    return truth


def run(args, expect, env=None, cmd="maskcut"):
    """useg CMD ARGS with the expected exit code checked."""
    return run_command(USEG, cmd, args, expect, env)


def kill_after_parts(args, parts, n, cmd="maskcut"):
    """Start a run, SIGKILL it once `parts` holds n finished images; True if it was still running."""
    p = subprocess.Popen([USEG, cmd] + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while p.poll() is None:
        if os.path.isdir(parts) and len([f for f in os.listdir(parts) if f.endswith(".json") and f[0].isdigit()]) >= n:
            p.send_signal(signal.SIGKILL)
            p.wait()
            return True
        time.sleep(0.02)
    return False
