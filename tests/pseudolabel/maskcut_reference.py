"""MaskCut in NumPy/SciPy (+ pydensecrf, PIL), written from docs/PAPERS.md 2.2.

This is the reference the C chain (pseudolabel/ncut.c) is tested against. It
follows the released maskcut.py step by step: f32 unit rows and f32
similarities, W = 1 where S > tau else eps in f64, the generalised problem
solved by scipy.linalg.eigh(D - W, D, subset_by_index=[1, 2]) (LAPACK dsygvx)
keeping the first vector, the bipartition at the mean, the corner/peak rule,
scipy.ndimage.label's 4-connectivity, the IoU/area rejections with the
torch metric's f32 IoU, and the features of found patches zeroed.

Two deliberate differences, both off with sign="lapack" (the released code):
  - sign: LAPACK returns the eigenvector with an arbitrary sign and the
    foreground rule is not sign invariant (see pseudolabel/ncut.h);
    "peak_positive" / "peak_negative" flip y so that its first
    largest-magnitude entry has that sign, as the C chain's two conventions.
  - twins: patches with identical rows of W (all masked patches, repeated
    features) have equal entries in the exact eigenvector, but LAPACK's
    differ by rounding, so the released argmax picks among them by noise
    (seen on the photos: a different seed in a cut's masked region).
    Both sides set each such class to its mean, so the first index wins.

image_masks() continues the chain at image level (steps 12-17) as maskcut.py
and crf.py do: nearest upsampling with torch, the subtraction of earlier
masks, pydensecrf with MaskCut's parameters on the working image,
binary_fill_holes, TokenCut's f32 IoU check, the 0/255 mask resized with
PIL's default filter, the half-max threshold and pycocotools' encoding
(pydensecrf and pycocotools are imported only there).

Also here: photo_features(), the stand-in "real features" of the tests and
benchmarks (the ViT is not in this branch): the 480 x 480 Lanczos-resized
image (MaskCut's preprocessing) cut into grid x grid patches, each patch's
raw RGB pixels as its feature vector, centred by the mean over patches.
"""
import numpy as np
import scipy.linalg
from scipy import ndimage
from PIL import Image


def photo_features(path, grid):
    """(grid, grid, 3 p^2) f32 features of an image, p = 480 // grid."""
    img = Image.open(path).convert("RGB").resize((480, 480), Image.LANCZOS)
    a = np.asarray(img, dtype=np.float32) / 255.0
    p = 480 // grid
    f = a[: grid * p, : grid * p].reshape(grid, p, grid, p, 3).transpose(0, 2, 1, 3, 4).reshape(grid, grid, -1)
    return (f - f.reshape(-1, f.shape[-1]).mean(0)).astype(np.float32)


def affinity(rows, tau, eps=1e-5):
    """W (n, n) f64 from features (n, C) f32, as get_affinity_matrix."""
    norm = np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), np.float32(1e-12))
    unit = (rows / norm).astype(np.float32)
    s = unit @ unit.T                      # f32, as torch's matmul
    return np.where(s > np.float32(tau), 1.0, eps)


def second_eigenpair(w):
    """(lambda_2, y) of (D - W) y = lambda D y, y' D y = 1, LAPACK's sign."""
    d = np.diag(w.sum(axis=1))
    vals, vecs = scipy.linalg.eigh(d - w, d, subset_by_index=[1, 2])
    return vals[0], vecs[:, 0].copy()


def equalise_twins(y, w):
    """Each class of identical rows of W at its mean y (see kernels/spectral.h):
    LAPACK leaves such entries unequal by rounding, and the released code's
    argmax then picks among them by that rounding."""
    if abs(y @ (np.diag(w.sum(axis=1)) - w) @ y - 1) <= 1e-12:  # lambda = 1: twins need not tie
        return y
    _, cls = np.unique(w, axis=0, return_inverse=True)
    cls = cls.reshape(-1)
    y = (np.bincount(cls, weights=y) / np.bincount(cls))[cls]
    return y / np.sqrt(np.sum(w.sum(axis=1) * y * y))


def apply_sign(y, sign):
    if sign == "lapack":
        return y
    peak = np.argmax(np.abs(y))
    want = 1.0 if sign == "peak_positive" else -1.0
    return y if y[peak] * want > 0 else -y


def iou_f32(a, b):
    inter = np.float32(np.sum(a & b))
    union = np.float32(np.sum(a | b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.float32(inter / union)


def maskcut(feats, tau=0.15, n_masks=3, eps=1e-5, sign="peak_positive"):
    """Patch masks (n_masks, h, w) bool (each minus the earlier ones, as the
    reference's image-level masks) and per-cut records."""
    h, w, c = feats.shape
    rows = feats.reshape(h * w, c).astype(np.float32).copy()
    painting = np.zeros((h, w), bool)
    prev = None
    masks, records = [], []
    for t in range(n_masks):
        if t > 0:
            painting = painting | prev
            rows[painting.reshape(-1)] = 0
        w_mat = affinity(rows, tau, eps)
        lam, y = second_eigenpair(w_mat)
        lapack_sign = "+" if y[np.argmax(np.abs(y))] > 0 else "-"
        if sign != "lapack":
            y = apply_sign(equalise_twins(y, w_mat), sign)
        part = y > np.sum(y) / len(y)
        peak = np.argmax(np.abs(y))
        grid = part.reshape(h, w)
        corners = int(grid[0][0]) + int(grid[0][-1]) + int(grid[-1][0]) + int(grid[-1][-1])
        reverse = corners >= 3 or not part[peak]
        if reverse:
            part = ~part
            seed = np.argmax(-y)
        else:
            seed = np.argmax(y)
        labels, _ = ndimage.label(part.reshape(h, w))
        comp = labels == labels[np.unravel_index(seed, (h, w))]
        area = int(comp.sum())
        rejected = False
        if t > 0 and (iou_f32(prev, comp) > 0.5 or comp.sum() / h / w <= 0.01):
            comp = np.zeros((h, w), bool)
            rejected = True
        masks.append(comp & ~(painting if t > 0 else np.zeros((h, w), bool)))
        records.append(dict(eigenvalue=lam, seed=int(seed), reversed=bool(reverse), rejected=rejected, area=area,
                            lapack_sign=lapack_sign))
        prev = comp
    return np.array(masks), records


def upsample_nearest(patch_mask, size):
    """(size, size) f32: F.interpolate(mode='nearest') of a (h, w) patch mask."""
    import torch
    import torch.nn.functional as F
    t = torch.from_numpy(patch_mask.astype(np.float32))[None, None]
    return F.interpolate(t, size=(size, size), mode="nearest")[0, 0].numpy()


def densecrf(image, mask):
    """MAP labels (H, W) f32 of crf.py's densecrf: logits [1 - B, B] in f64,
    bilinear to the image size, softmax, unary_from_softmax, 7/3 + 10/50/5, 10 iterations."""
    import pydensecrf.densecrf as dcrf
    import torch
    import torch.nn.functional as F
    from pydensecrf.utils import unary_from_softmax
    fg = mask.astype(float)[None]
    logits = torch.from_numpy(np.concatenate((1 - fg, fg), axis=0))
    H, W = image.shape[:2]
    logits = F.interpolate(logits.unsqueeze(0), size=(H, W), mode="bilinear").squeeze()
    probs = F.softmax(logits, dim=0).cpu().numpy()
    d = dcrf.DenseCRF2D(W, H, 2)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))
    d.addPairwiseGaussian(sxy=3, compat=7)
    d.addPairwiseBilateral(sxy=50, srgb=5, rgbim=np.array(image, order="C"), compat=10)
    q = np.array(d.inference(10)).reshape((2, H, W))
    return np.argmax(q, axis=0).astype(np.float32)


def tokencut_iou(a, b):
    """TokenCut's metric.IoU: masks > 0.5, torch arithmetic, f32 division."""
    import torch
    m1, m2 = torch.from_numpy(np.asarray(a)) > 0.5, torch.from_numpy(np.asarray(b)) > 0.5
    inter = torch.sum(m1 * (m1 == m2), dim=[-1, -2]).squeeze()
    union = torch.sum(m1 + m2, dim=[-1, -2]).squeeze()
    return (inter.to(torch.float) / union).mean().item()


def image_masks(work, patch_masks, height, width, crf=True):
    """Steps 12-17 on patch masks (N, h, w): a list of (t, mask (height, width)
    bool, rle) for the masks maskcut.py keeps, t the patch mask it came from."""
    from PIL import Image
    from pycocotools import mask as mask_util
    size = work.shape[0]
    bipartitions = []
    for pm in patch_masks:
        b = upsample_nearest(pm, size)
        masked_out = 0 if not bipartitions else np.sum(bipartitions, axis=0)
        b = b - masked_out
        b[b <= 0] = 0
        bipartitions.append(b)
    kept = []
    for t, b in enumerate(bipartitions):
        pseudo = b
        if crf:
            pseudo = ndimage.binary_fill_holes(densecrf(work, b) >= 0.5)
            if tokencut_iou(b, pseudo) < 0.5:
                pseudo = pseudo * -1
            pseudo = pseudo.astype(np.int64)
            pseudo[pseudo < 0] = 0
        resized = np.asarray(Image.fromarray(np.uint8(pseudo * 255)).resize((width, height))).copy()
        upper, lower = np.max(resized), np.min(resized)
        thresh = upper / 2.0
        resized[resized > thresh] = upper
        resized[resized <= thresh] = lower
        rle = mask_util.encode(np.asfortranarray(resized.astype(np.uint8)))
        if mask_util.area(rle) < 1:
            continue
        kept.append((t, mask_util.decode(rle).astype(bool), rle))
    return kept
