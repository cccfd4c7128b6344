#!/usr/bin/env python3
"""Checkpoint files for test_checkpoints, written by PyTorch itself.

usage: checkpoints.py TEST_BINARY

Writes into a temporary folder:
  plain.pth        torch.save of an OrderedDict state dict: f32, f16, bf16, f64,
                   i64, bool, a Parameter, a 0-d tensor, an empty tensor, a
                   transposed (non-contiguous) view, views at storage offsets
                   sharing one storage, an expanded (stride 0) view
  plain.names      its tensor names in order; plain/<name>.npy the values (f32,
                   or i64 / u8 for integer tensors)
  plain_p4.pth     the same saved with pickle protocol 4 (FRAME, MEMOIZE, ...)
  deflated.pth     plain.pth re-zipped with deflate (unaligned storages)
  dino_train.pth   a DINO training checkpoint {'student', 'teacher', 'optimizer',
                   'epoch', 'args' (argparse.Namespace), 'dino_loss', 'fp16_scaler'}
                   for a ViT with D 128, depth 3, patch 8, 4 x 4 positions;
                   dino_teacher/<name>.npy the teacher backbone's values
  dino_module.pth  a DDP state dict of the same backbone ('module.' prefix)
  dinov2.pth       a DINOv2-style hub state dict (D 192, depth 2, patch 14, 37 x 37
                   positions, LayerScale, mask_token, 4 register tokens)
  hand.safetensors a safetensors file written here with struct + json (the
                   safetensors package is not needed); hand/<name>.npy its values
and the bad files listed in BAD below; then runs TEST_BINARY FOLDER. When the
binary passes, reads back the safetensors file it wrote (roundtrip.safetensors)
with this script's own reader and checks it bit for bit against plain.pth.
Exits 77 (skipped) when torch is unavailable.
"""
import argparse
import collections
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile

try:
    import numpy as np
    import torch
except ImportError as e:  # pragma: no cover - reported as a skip
    print(f"skipped: PyTorch reference unavailable ({e}); apt-get install python3-torch")
    sys.exit(77)

torch.manual_seed(0)


def save_refs(folder, sd):
    os.makedirs(folder, exist_ok=True)
    for name, t in sd.items():
        t = t.detach()
        a = t.float().numpy() if t.is_floating_point() else t.to(torch.uint8 if t.dtype == torch.bool else t.dtype).numpy()
        np.save(os.path.join(folder, name + ".npy"), np.array(a, order="C"))  # keeps 0-d arrays 0-d


def plain_state_dict():
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(4, 3, 2, 2)
    sd["half"] = torch.randn(5).half()
    sd["bfloat"] = torch.randn(3, 4).bfloat16()
    sd["double"] = torch.randn(2, 2, dtype=torch.float64)
    sd["steps"] = torch.tensor([1, -2, 3 << 40])
    sd["mask"] = torch.tensor([True, False, True])
    sd["param"] = torch.nn.Parameter(torch.randn(7))
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["transposed"] = torch.randn(3, 4).t()
    base = torch.randn(30)
    sd["view.q"] = base[0:10].view(2, 5)
    sd["view.k"] = base[10:20].view(2, 5)
    sd["view.strided"] = base.view(5, 6)[1:4, ::2]
    sd["expanded"] = torch.randn(3, 1).expand(3, 4)
    sd["big.values"] = torch.randn(64, 33).half()
    return sd


def vit_state_dict(d, depth, patch, grid, v2=False, registers=0):
    sd = collections.OrderedDict()
    sd["cls_token"] = torch.randn(1, 1, d)
    sd["pos_embed"] = torch.randn(1, 1 + grid * grid, d)
    if registers:
        sd["register_tokens"] = torch.randn(1, registers, d)
    if v2:
        sd["mask_token"] = torch.zeros(1, d)
    sd["patch_embed.proj.weight"] = torch.randn(d, 3, patch, patch)
    sd["patch_embed.proj.bias"] = torch.randn(d)
    for b in range(depth):
        p = f"blocks.{b}."
        sd[p + "norm1.weight"] = torch.randn(d)
        sd[p + "norm1.bias"] = torch.randn(d)
        sd[p + "attn.qkv.weight"] = torch.randn(3 * d, d)
        sd[p + "attn.qkv.bias"] = torch.randn(3 * d)
        sd[p + "attn.proj.weight"] = torch.randn(d, d)
        sd[p + "attn.proj.bias"] = torch.randn(d)
        if v2:
            sd[p + "ls1.gamma"] = torch.randn(d)
        sd[p + "norm2.weight"] = torch.randn(d)
        sd[p + "norm2.bias"] = torch.randn(d)
        sd[p + "mlp.fc1.weight"] = torch.randn(4 * d, d)
        sd[p + "mlp.fc1.bias"] = torch.randn(4 * d)
        sd[p + "mlp.fc2.weight"] = torch.randn(d, 4 * d)
        sd[p + "mlp.fc2.bias"] = torch.randn(d)
        if v2:
            sd[p + "ls2.gamma"] = torch.randn(d)
    sd["norm.weight"] = torch.randn(d)
    sd["norm.bias"] = torch.randn(d)
    return sd


def prefixed(prefix, sd):
    return collections.OrderedDict((prefix + k, v) for k, v in sd.items())


def dino_training_checkpoint(teacher):
    student = vit_state_dict(128, 3, 8, 4)
    head = collections.OrderedDict([("head.mlp.0.weight", torch.randn(16, 128)), ("head.last_layer.weight_g", torch.randn(8, 1))])
    params = [torch.nn.Parameter(torch.randn(4, 4)), torch.nn.Parameter(torch.randn(4))]
    opt = torch.optim.AdamW(params, lr=1e-3)
    sum(p.sum() for p in params).backward()
    opt.step()
    return {
        "student": collections.OrderedDict(list(prefixed("module.backbone.", student).items())
                                           + list(prefixed("module.", head).items())),
        "teacher": collections.OrderedDict(list(prefixed("backbone.", teacher).items()) + list(head.items())),
        "optimizer": opt.state_dict(),
        "epoch": 100,
        "args": argparse.Namespace(arch="vit_base", patch_size=8, lr=0.0005, out_dim=65536, use_bn_in_head=False,
                                   global_crops_scale=(0.4, 1.0), data_path="/path/to/imagenet", seed=0,
                                   momentum_teacher=0.996, norm_last_layer=True, big=2 ** 70),
        "dino_loss": {"center": torch.zeros(1, 16)},
        "fp16_scaler": None,
    }


# --- Hand-made archives -------------------------------------------------------------

class FakeStorage:
    def __init__(self, key, kind, numel, data):
        self.key, self.kind, self.numel, self.data = key, kind, numel, data


class FakeTensor:
    """Pickles like a tensor: _rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class StoragePickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", obj.kind, obj.key, "cpu", obj.numel)
        return None


def craft_pth(path, obj, storages, pkl=None, skip=()):
    """A torch-style archive holding `obj` (or the raw pickle `pkl`)."""
    if pkl is None:
        buf = io.BytesIO()
        StoragePickler(buf, protocol=2).dump(obj)
        pkl = buf.getvalue()
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pkl)
        for s in storages:
            if s.key not in skip:
                z.writestr(f"archive/data/{s.key}", s.data)
        z.writestr("archive/version", "3\n")


def safetensors_bytes(entries, metadata=None, header_override=None):
    """entries: [(name, dtype code, shape, raw bytes)]; data in the given order."""
    header, data = {}, b""
    for name, code, shape, raw in entries:
        header[name] = {"dtype": code, "shape": list(shape), "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    if header_override:
        header_override(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def read_safetensors(path):
    """This script's own reader, to check what useg writes."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    dtypes = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32,
              "U8": np.uint8, "BF16": np.uint16}
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, en = e["data_offsets"]
        out[name] = (e["dtype"], np.frombuffer(raw[8 + n + b:8 + n + en], dtypes[e["dtype"]]).reshape(e["shape"]))
    return out, len(raw) - 8 - n


def write_all(folder):
    out = lambda name: os.path.join(folder, name)
    sd = plain_state_dict()
    torch.save(sd, out("plain.pth"))
    torch.save(sd, out("plain_p4.pth"), pickle_protocol=4)
    save_refs(out("plain"), sd)
    with open(out("plain.names"), "w") as f:
        f.write("\n".join(sd.keys()) + "\n")
    with zipfile.ZipFile(out("plain.pth")) as zin, zipfile.ZipFile(out("deflated.pth"), "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))

    teacher = vit_state_dict(128, 3, 8, 4)
    torch.save(dino_training_checkpoint(teacher), out("dino_train.pth"))
    save_refs(out("dino_teacher"), teacher)
    torch.save(prefixed("module.", teacher), out("dino_module.pth"))
    torch.save(vit_state_dict(192, 2, 14, 37, v2=True, registers=4), out("dinov2.pth"))

    # Broken backbones: a tensor missing, one mis-shaped, FSDP-chunked blocks.
    broken = vit_state_dict(128, 3, 8, 4)
    del broken["blocks.1.mlp.fc2.bias"]
    torch.save(broken, out("dino_missing.pth"))
    v2 = vit_state_dict(192, 2, 14, 37, v2=True)
    v2["blocks.1.ls2.gamma"] = torch.randn(191)
    torch.save(v2, out("dinov2_misshaped.pth"))
    chunked = collections.OrderedDict((k.replace("blocks.", "blocks.0.", 1), v) for k, v in vit_state_dict(128, 2, 8, 4).items())
    torch.save(chunked, out("dinov2_chunked.pth"))

    # safetensors by hand, data deliberately not in name order.
    rng = np.random.default_rng(3)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    h = rng.standard_normal(7).astype(np.float16)
    bf = torch.randn(2, 3).bfloat16()
    ids = np.array([5, -6, 1 << 50], np.int64)
    flags = np.array([1, 0, 1, 1], np.uint8)
    entries = [("layer.weight", "F32", w.shape, w.tobytes()), ("ids", "I64", ids.shape, ids.tobytes()),
               ("half", "F16", h.shape, h.tobytes()), ("bf", "BF16", (2, 3), bf.view(torch.int16).numpy().tobytes()),
               ("flags", "BOOL", flags.shape, flags.tobytes()), ("scalar", "F32", (), np.float32(1.5).tobytes())]
    with open(out("hand.safetensors"), "wb") as f:
        f.write(safetensors_bytes(entries, metadata={"format": "pt"}))
    save_refs(out("hand"), collections.OrderedDict([
        ("layer.weight", torch.from_numpy(w)), ("ids", torch.from_numpy(ids)), ("half", torch.from_numpy(h)),
        ("bf", bf), ("flags", torch.from_numpy(flags)), ("scalar", torch.tensor(1.5))]))

    def bad_st(name, override=None, entries_=None, tail=b""):
        with open(out(name), "wb") as f:
            f.write(safetensors_bytes(entries_ or entries, header_override=override) + tail)

    def set_offsets(name, b, e):
        def f(hd):
            hd[name]["data_offsets"] = [b, e]
        return f
    bad_st("st_past_end.safetensors", set_offsets("scalar", 10 ** 6, 10 ** 6 + 4))
    bad_st("st_overlap.safetensors", set_offsets("scalar", 0, 4))
    bad_st("st_size_lie.safetensors", set_offsets("layer.weight", 0, 56))
    bad_st("st_tail.safetensors", tail=b"\0" * 8)
    bad_st("st_dtype.safetensors", lambda hd: hd["ids"].update(dtype="Q64"))
    bad_st("st_shape.safetensors", lambda hd: hd["ids"].update(shape=[-3]))
    with open(out("st_header_len.safetensors"), "wb") as f:
        good = safetensors_bytes(entries)
        f.write(struct.pack("<Q", len(good) * 2) + good[8:])
    with open(out("st_bad_json.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", 16) + b'{"a": [1, 2,   ' + b"\0" * 8)
    bad_st("st_i16.safetensors", entries_=entries + [("short", "I16", (2,), b"\1\0\2\0")])

    torch.save(sd, out("legacy.pth"), _use_new_zipfile_serialization=False)
    with zipfile.ZipFile(out("protocol0.pth"), "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=0))
    s4 = FakeStorage("0", torch.FloatStorage, 4, struct.pack("<4f", 1, 2, 3, 4))
    craft_pth(out("view_past_storage.pth"), {"w": FakeTensor(s4, 1, (2, 2), (2, 1))}, [s4])
    craft_pth(out("storage_short.pth"), {"w": FakeTensor(FakeStorage("0", torch.FloatStorage, 6, b""), 0, (6,), (1,))},
              [FakeStorage("0", torch.FloatStorage, 6, b"\0" * 20)])
    craft_pth(out("storage_missing.pth"), {"w": FakeTensor(s4, 0, (4,), (1,))}, [s4], skip=("0",))
    short = FakeStorage("1", torch.ShortStorage, 2, b"\1\0\2\0")
    craft_pth(out("short_storage.pth"), {"w": FakeTensor(short, 0, (2,), (1,)), "ok": FakeTensor(s4, 0, (4,), (1,))},
              [short, s4])
    craft_pth(out("seven_dims.pth"), {"w": FakeTensor(s4, 0, (1,) * 7, (1,) * 7)}, [s4])
    # A nested list that references itself: the walk must stop.
    cyc = []
    cyc.append(cyc)
    craft_pth(out("cyclic.pth"), {"loop": cyc, "w": FakeTensor(s4, 0, (4,), (1,))}, [s4])
    # "Billion laughs": one list shared exponentially often, 2^30 paths to a tensor.
    laughs = [FakeTensor(s4, 0, (4,), (1,))]
    for _ in range(30):
        laughs = [laughs, laughs]
    craft_pth(out("laughs.pth"), {"x": laughs}, [s4])
    # A pickle with a persistent id that is not a storage.
    class OtherPid(pickle.Pickler):
        def persistent_id(self, obj):
            return ("module", "x") if obj == "pid" else None
    buf = io.BytesIO()
    OtherPid(buf, protocol=2).dump({"a": "pid"})
    craft_pth(out("other_pid.pth"), None, [], pkl=buf.getvalue())


def check_roundtrip(folder):
    """useg wrote plain.pth's tensors (kept dtypes) to roundtrip.safetensors."""
    got, data_len = read_safetensors(os.path.join(folder, "roundtrip.safetensors"))
    sd = torch.load(os.path.join(folder, "plain.pth"))
    codes = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int64: "I64", torch.bool: "U8"}
    bad = 0
    for name, t in sd.items():
        t = t.detach().contiguous()
        code, arr = got.get(name, (None, None))
        want = t.view(torch.int16).numpy().view(np.uint16) if t.dtype == torch.bfloat16 else \
            t.to(torch.uint8).numpy() if t.dtype == torch.bool else t.numpy()
        if code != codes[t.dtype] or arr is None or arr.shape != want.shape or arr.tobytes() != want.tobytes():
            print(f"roundtrip.safetensors: '{name}' differs from plain.pth ({code}, "
                  f"{None if arr is None else arr.shape} vs {codes[t.dtype]}, {want.shape})")
            bad += 1
    if set(got) != set(sd):
        print(f"roundtrip.safetensors: names {sorted(got)} != {sorted(sd)}")
        bad += 1
    print(f"roundtrip.safetensors read back by an independent reader: {len(got)} tensors, {bad} mismatches")
    return 1 if bad else 0


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        write_all(folder)
        rc = subprocess.call([sys.argv[1], folder])
        return rc if rc else check_roundtrip(folder)


if __name__ == "__main__":
    sys.exit(main())
