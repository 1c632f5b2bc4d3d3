"""The .safetensors writer (numpy only): a header with every tensor's place written first,
then rows written where they belong as they arrive, so a 100k-token capture never sits in
memory whole. Everything goes to PATH.partial, renamed into place by commit(); a failure or
Ctrl-C leaves nothing behind."""
import json
import os
import struct

import numpy as np

# name -> (safetensors dtype, bytes per value)
DTYPES = {"f32": ("F32", 4), "f16": ("F16", 2), "bf16": ("BF16", 2)}


def as_numpy(x):
    """A float32 numpy array from a numpy array or a torch tensor (bf16 included)."""
    if hasattr(x, "detach"):
        x = x.detach().to("cpu")
        if str(x.dtype) != "torch.float32":
            x = x.float()
        x = x.numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def encode(array, dtype):
    """The bytes of a float32 array stored as dtype; a value the dtype cannot hold is an error."""
    a = as_numpy(array)
    if not np.isfinite(a).all():
        raise ValueError("the captured tensors hold NaN or Inf: the model's activations are not finite")
    if dtype == "bf16":
        # Round to nearest even on the upper 16 bits of each float32.
        bits = a.view(np.uint32).astype(np.uint64)
        bits = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        out = bits.astype("<u2")
        if ((out & 0x7F80) == 0x7F80).any():
            raise ValueError("a captured value overflows bfloat16")
        return out.tobytes()
    if dtype == "f16":
        with np.errstate(over="ignore"):  # checked just below
            out = a.astype("<f2")
        if not np.isfinite(out).all():
            raise ValueError(f"a captured value ({float(np.abs(a).max()):.4g}) is larger than float16 holds: "
                             "store with --dtype bf16 or f32")
        return out.tobytes()
    if dtype == "f32":
        return a.astype("<f4").tobytes()
    raise ValueError(f"unknown dtype {dtype}: use f16, bf16 or f32")


class SafetensorsStream:
    """A .safetensors file of 3-D tensors [heads, rows, d], filled a slice of rows at a time.

        with SafetensorsStream(path, {"layers.0.q": (4, n, 64)}, "f16", metadata) as out:
            out.write("layers.0.q", chunk, row0)   # chunk [4, r, 64] goes to rows row0..row0+r
            out.commit()
    """

    def __init__(self, path, shapes, dtype, metadata=None):
        if dtype not in DTYPES:
            raise ValueError(f"unknown dtype {dtype}: use f16, bf16 or f32")
        self.path, self.partial, self.dtype = path, path + ".partial", dtype
        st_dtype, elem = DTYPES[dtype]
        header, offset = {}, 0
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        self.places, self.rows_written = {}, {}
        for name, shape in shapes.items():
            shape = [int(s) for s in shape]
            size = elem
            for s in shape:
                size *= s
            header[name] = {"dtype": st_dtype, "shape": shape, "data_offsets": [offset, offset + size]}
            self.places[name] = (offset, shape)
            self.rows_written[name] = 0
            offset += size
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)  # the data section starts 8-byte aligned
        self.data_start = 8 + len(text)
        self.elem = elem
        self.file = open(self.partial, "wb")
        try:
            self.file.write(struct.pack("<Q", len(text)))
            self.file.write(text)
            self.file.truncate(self.data_start + offset)  # sparse until written
        except BaseException:
            self.abort()
            raise

    def write(self, name, array, row0):
        """Rows [row0, row0 + r) of every head: array is [heads, r, d] (or [r, d] for 2-D)."""
        offset, shape = self.places[name]
        a = as_numpy(array)
        if len(shape) == 2:
            a = a[None]
            shape = [1] + shape
        heads, n, d = shape
        if a.shape[0] != heads or a.shape[2] != d or row0 + a.shape[1] > n:
            raise ValueError(f"internal: {name} slice {a.shape} at row {row0} does not fit {shape}")
        rows = a.shape[1]
        for h in range(heads):
            self.file.seek(self.data_start + offset + ((h * n) + row0) * d * self.elem)
            self.file.write(encode(a[h], self.dtype))
        self.rows_written[name] += rows

    def commit(self):
        for name, (_, shape) in self.places.items():
            want = shape[-2] if len(shape) >= 2 else 1
            if self.rows_written[name] != want:
                raise RuntimeError(f"internal: {name} got {self.rows_written[name]} of {want} rows")
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.partial, self.path)

    def abort(self):
        if not self.file.closed:
            self.file.close()
        if os.path.exists(self.partial):
            os.remove(self.partial)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        if kind is not None or os.path.exists(self.partial):
            self.abort()
        return False


def write_safetensors(path, tensors, metadata=None, dtype="f16"):
    """Writes {name: array [.., n, d]} whole (small files, the demo and tests), atomically."""
    arrays = {name: as_numpy(a) for name, a in tensors.items()}
    shapes = {name: a.shape for name, a in arrays.items()}
    with SafetensorsStream(path, shapes, dtype, metadata) as out:
        for name, a in arrays.items():
            if a.ndim == 1:
                raise ValueError(f"{name}: 1-D tensors are not supported")
            flat = a.reshape((-1,) + a.shape[-2:]) if a.ndim > 3 else a
            if a.ndim > 3:
                out.places[name] = (out.places[name][0], list(flat.shape))
            out.write(name, flat, 0)
        out.commit()


def write_tokens(path, tokens):
    partial = path + ".partial"
    try:
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(list(tokens), f, ensure_ascii=False)
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
