#!/usr/bin/env python3
"""PyTorch reference for the ViT parity test (tests/models/test_vit.c).

Usage: vit_reference.py TEST_BINARY SHARED_DATA_DIR

Writes the references below into a temporary folder, runs TEST_BINARY on it
and exits with its status.

Builds DINO v1 and DINOv2 Vision Transformers in PyTorch (written here from
the architecture in PAPERS.md 1.1, not imported from the DINO repositories),
fills them with seeded random weights, and for each configuration writes:
  MODEL.pth          torch.save of the state dict (DINO tensor names; ViT-S/16
                     as a full DINO training checkpoint {'teacher': {'backbone.*'},
                     'student': {'module.backbone.*'}, 'epoch': 3} so prefix
                     handling is exercised)
  MODEL.safetensors  the same tensors in the safetensors format, written by hand
  NAME.input.npy     the ImageNet-normalised input (B, 3, S, S): photos from
                     the shared data resized with PIL bicubic when available,
                     else seeded noise
  NAME.keys.npy NAME.tokens.npy NAME.cls.npy NAME.attn.npy   the four taps
Weights are per model (MODEL.pth, MODEL.safetensors); inputs and taps per
case NAME = MODEL_SIZE. Each line of OUT_DIR/cases.txt names one case:
NAME MODEL ARCH PATCH SIZE BATCH.
Exits 77 (skip) when torch is missing.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    print(f"skipped: PyTorch reference unavailable ({e})")
    sys.exit(77)


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(B, N, C)
        return self.proj(out), attn, k


class LayerScale(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.gamma = nn.Parameter(torch.empty(dim))

    def forward(self, x):
        return x * self.gamma


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, layer_scale):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)
        if layer_scale:
            self.ls1, self.ls2 = LayerScale(dim), LayerScale(dim)
        self.layer_scale = layer_scale

    def forward(self, x):
        a, attn, k = self.attn(self.norm1(x))
        x = x + (self.ls1(a) if self.layer_scale else a)
        m = self.mlp(self.norm2(x))
        x = x + (self.ls2(m) if self.layer_scale else m)
        return x, attn, k


class ViT(nn.Module):
    def __init__(self, dim, heads, patch, pos_grid, v2, registers=0, depth=12):
        super().__init__()
        self.patch = patch
        self.pos_grid = pos_grid
        self.registers = registers
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.empty(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.empty(1, 1 + pos_grid * pos_grid, dim))
        if registers:
            self.register_tokens = nn.Parameter(torch.empty(1, registers, dim))
        if v2:
            self.mask_token = nn.Parameter(torch.zeros(1, dim))
        self.blocks = nn.ModuleList([Block(dim, heads, v2) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def pos(self, h, w):
        G = self.pos_grid
        if h == G and w == G:
            return self.pos_embed
        cls, grid = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        grid = grid.reshape(1, G, G, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, scale_factor=((h + 0.1) / G, (w + 0.1) / G), mode="bicubic")
        assert grid.shape[-2:] == (h, w)
        return torch.cat((cls, grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)), dim=1)

    def forward(self, img):
        B, _, H, W = img.shape
        h, w = H // self.patch, W // self.patch
        x = self.patch_embed.proj(img).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1) + self.pos(h, w)
        if self.registers:
            x = torch.cat((x[:, :1], self.register_tokens.expand(B, -1, -1), x[:, 1:]), dim=1)
        first = 1 + self.registers
        for blk in self.blocks:
            x, attn, k = blk(x)
        tokens = self.norm(x)
        keys = k.transpose(1, 2).reshape(B, x.shape[1], -1)[:, first:]
        return {"keys": keys, "tokens": tokens[:, first:], "cls": tokens[:, 0], "attn": attn[:, :, 0, first:]}


def randomise(model, gen):
    """Weights with the scales of a trained model, from a seeded generator."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm1.weight") or name.endswith("norm2.weight") or name == "norm.weight":
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("gamma"):
                p.copy_(0.1 + 0.05 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))


SAFETENSORS_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().contiguous().cpu().numpy().tobytes()
        header[name] = {"dtype": SAFETENSORS_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def load_images(shared, size, batch, seed):
    """ImageNet-normalised (batch, 3, size, size) from shared photos, or noise."""
    photos = []
    folder = os.path.join(shared, "bsds500", "images", "val") if shared else None
    if folder and os.path.isdir(folder):
        from PIL import Image
        names = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))[seed:seed + batch]
        for n in names:
            im = Image.open(os.path.join(folder, n)).convert("RGB").resize((size, size), Image.BICUBIC)
            photos.append(np.asarray(im, dtype=np.float32) / 255.0)
    if len(photos) < batch:
        rng = np.random.default_rng(seed)
        photos += [rng.random((size, size, 3), dtype=np.float32) for _ in range(batch - len(photos))]
    x = np.stack(photos).transpose(0, 3, 1, 2)
    mean = np.array([0.485, 0.456, 0.406], np.float32)[:, None, None]
    std = np.array([0.229, 0.224, 0.225], np.float32)[:, None, None]
    return np.ascontiguousarray((x - mean) / std, dtype=np.float32)


# model: (arch, dim, heads, patch, pos_grid, v2, registers, [(size, batch), ...])
MODELS = {
    "vits16": ("vit_small", 384, 6, 16, 14, False, 0, [(224, 2), (480, 1)]),
    "vitb8": ("vit_base", 768, 12, 8, 28, False, 0, [(224, 1), (480, 1)]),
    "dinov2_vits14": ("dinov2_vits14", 384, 6, 14, 37, True, 0, [(518, 1), (322, 1)]),
}


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    with tempfile.TemporaryDirectory() as out:
        write_references(out, sys.argv[2])
        return subprocess.call([sys.argv[1], out])


def write_references(out, shared):
    torch.set_num_threads(2)
    with open(os.path.join(out, "cases.txt"), "w") as listing:
        for i, (model_name, (arch, dim, heads, patch, grid, v2, regs, sizes)) in enumerate(MODELS.items()):
            gen = torch.Generator().manual_seed(100 + i)
            model = ViT(dim, heads, patch, grid, v2, regs).eval()
            randomise(model, gen)
            state = model.state_dict()
            if model_name == "vits16":
                ckpt = {"teacher": {"backbone." + k: v for k, v in state.items()},
                        "student": {"module.backbone." + k: v * 0 for k, v in state.items()}, "epoch": 3}
            else:
                ckpt = state
            torch.save(ckpt, os.path.join(out, model_name + ".pth"))
            write_safetensors(os.path.join(out, model_name + ".safetensors"), state)
            for size, batch in sizes:
                name = f"{model_name}_{size}"
                x = load_images(shared, size, batch, size % 7)
                np.save(os.path.join(out, name + ".input.npy"), x)
                with torch.no_grad():
                    taps = model(torch.from_numpy(x))
                for tap, t in taps.items():
                    np.save(os.path.join(out, f"{name}.{tap}.npy"), np.array(t.numpy(), order="C"))
                listing.write(f"{name} {model_name} {arch} {patch} {size} {batch}\n")


if __name__ == "__main__":
    sys.exit(main())
