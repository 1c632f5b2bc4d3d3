#!/usr/bin/env python3
"""Writes tests/corpus/: small valid and malformed .npy, .safetensors and token files, and
expected.json, which says for each file what attnscope must answer: "ok", or a piece of the
one-line error. tests/test_formats.cpp checks every entry; the fuzz targets start from these
files. Pure Python (struct, json), so any python3 runs it:

    python3 tools/make_corpus.py            # rewrites tests/corpus/
"""
import json
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "corpus")
expected = {}


def put(kind, name, data, expect, **extra):
    folder = os.path.join(ROOT, kind)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)
    expected[f"{kind}/{name}"] = dict(expect=expect, **extra)


def f32(values):
    return struct.pack(f"<{len(values)}f", *values)


def f16(values):
    return struct.pack(f"<{len(values)}e", *values)


def bf16(values):
    return b"".join(struct.pack("<f", v)[2:] for v in values)


# ---- .npy ---------------------------------------------------------------------------------
def npy(descr="'<f4'", fortran="False", shape="(3, 4)", version=1, header_len=None, magic=b"\x93NUMPY"):
    d = "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)
    pre = 12 if version >= 2 else 10
    total = (pre + len(d) + 1 + 63) // 64 * 64
    d = d + " " * (total - pre - len(d) - 1) + "\n"
    n = len(d) if header_len is None else header_len
    length = struct.pack("<I", n) if version >= 2 else struct.pack("<H", n)
    return magic + bytes([version, 0]) + length + d.encode("latin-1")


V12 = [float(i) - 5.5 for i in range(12)]
put("npy", "ok_f32.npy", npy() + f32(V12), "ok", rows=3, cols=4)
put("npy", "ok_f16.npy", npy(descr="'<f2'") + f16(V12), "ok", rows=3, cols=4)
put("npy", "ok_v2.npy", npy(version=2) + f32(V12), "ok", rows=3, cols=4)
put("npy", "ok_v3.npy", npy(version=3) + f32(V12), "ok", rows=3, cols=4)
put("npy", "empty.npy", b"", "too short")
put("npy", "magic.npy", b"\x89PNG\r\n\x1a\n" + npy()[8:] + f32(V12), "wrong magic number")
put("npy", "version9.npy", npy(version=9) + f32(V12), "version 9")
put("npy", "header_len_lies.npy", npy(header_len=60000) + f32(V12), "header length")
put("npy", "v2_cut_in_preamble.npy", npy(version=2)[:11], "truncated in its header")
put("npy", "no_descr.npy", npy().replace(b"'descr'", b"'dscr' "), "no 'descr' entry")
put("npy", "float64.npy", npy(descr="'<f8'") + f32(V12) * 2, "'<f8'")
put("npy", "big_endian.npy", npy(descr="'>f4'") + f32(V12), "'>f4'")
put("npy", "int32.npy", npy(descr="'<i4'") + f32(V12), "'<i4'")
put("npy", "fortran.npy", npy(fortran="True") + f32(V12), "Fortran order")
put("npy", "shape_3d.npy", npy(shape="(1, 3, 4)") + f32(V12), "expected a 2-D array")
put("npy", "shape_1d.npy", npy(shape="(12,)") + f32(V12), "expected a 2-D array")
put("npy", "shape_letters.npy", npy(shape="(a, 4)") + f32(V12), "malformed shape")
put("npy", "shape_negative.npy", npy(shape="(-3, 4)") + f32(V12), "malformed shape")
put("npy", "shape_unclosed.npy", npy(shape="(3, 4") + f32(V12), "malformed")
put("npy", "shape_20_digits.npy", npy(shape="(99999999999999999999, 4)") + f32(V12), "malformed shape")
put("npy", "shape_overflow.npy", npy(shape="(4294967296, 4294967296)") + f32(V12), "overflows 64 bits")
put("npy", "shape_empty.npy", npy(shape="(0, 4)"), "it is empty")
put("npy", "truncated_data.npy", npy() + f32(V12)[:40], "is truncated: shape (3, 4) needs 48 bytes")
put("npy", "nan.npy", npy() + f32(V12[:6] + [float("nan")] + V12[7:]), "NaN at row 1, column 2")
put("npy", "inf_f16.npy", npy(descr="'<f2'") + f16(V12[:11] + [float("inf")]), "Inf at row 2, column 3")


# ---- .safetensors --------------------------------------------------------------------------
def st(header, data, header_len=None):
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(h) if header_len is None else header_len
    return struct.pack("<Q", n) + h + data


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


Q = f32(V12[:8])
GOOD = {"__metadata__": {"format": "pt"}, "layers.0.q": t("F32", [2, 4], 0, 32)}
put("safetensors", "ok.safetensors",
    st({"__metadata__": {"format": "pt"},
        "layers.0.q": t("F32", [1, 2, 4], 0, 32), "layers.0.k": t("F16", [1, 2, 4], 32, 48),
        "layers.1.q": t("BF16", [1, 2, 4], 48, 64), "layers.1.k": t("F32", [2, 4], 64, 96)},
       Q + f16(V12[:8]) + bf16(V12[:8]) + Q), "ok", tensors=4)
put("safetensors", "tiny.safetensors", b"abc", "too short")
put("safetensors", "len_zero.safetensors", st(GOOD, Q, header_len=0), "header length")
put("safetensors", "len_huge.safetensors", st(GOOD, Q, header_len=1 << 40), "header length")
put("safetensors", "len_past_end.safetensors", st(GOOD, Q, header_len=4000), "header length")
put("safetensors", "not_json.safetensors", st(b"{not json", Q), "not valid JSON")
put("safetensors", "not_object.safetensors", st(b"[1, 2]", Q), "not a JSON object")
put("safetensors", "deep_nesting.safetensors", st(b"[" * 5000 + b"]" * 5000, Q), "not a JSON object")
put("safetensors", "missing_fields.safetensors", st({"q": {"dtype": "F32", "shape": [2, 4]}}, Q),
    "lacks dtype, shape or data_offsets")
put("safetensors", "dtype_number.safetensors", st({"q": {"dtype": 7, "shape": [2, 4], "data_offsets": [0, 32]}}, Q),
    "dtype that is not a string")
put("safetensors", "dtype_unknown.safetensors", st({"q": t("Q7", [2, 4], 0, 32)}, Q), "unknown dtype Q7")
put("safetensors", "dtype_int64.safetensors", st({"q": t("I64", [2, 2], 0, 32)}, Q),
    "is I64; attnscope reads F32, F16 and BF16")
put("safetensors", "shape_negative.safetensors", st({"q": t("F32", [-2, 4], 0, 32)}, Q), "not a non-negative integer")
put("safetensors", "shape_fraction.safetensors", st({"q": t("F32", [2.5, 4], 0, 32)}, Q), "not a non-negative integer")
put("safetensors", "shape_not_list.safetensors", st({"q": t("F32", "2x4", 0, 32)}, Q), "malformed shape")
put("safetensors", "shape_9_dims.safetensors", st({"q": t("F32", [1] * 7 + [2, 4], 0, 32)}, Q), "malformed shape")
put("safetensors", "shape_overflow.safetensors", st({"q": t("F32", [1 << 32, 1 << 32, 16], 0, 32)}, Q),
    "overflows 64 bits")
put("safetensors", "offsets_one.safetensors", st({"q": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0]}}, Q),
    "malformed data_offsets")
put("safetensors", "offsets_reversed.safetensors", st({"q": t("F32", [2, 4], 32, 0)}, Q), "truncated or lying offsets")
put("safetensors", "offsets_past_end.safetensors", st({"q": t("F32", [2, 4], 0, 4000)}, Q), "truncated or lying offsets")
put("safetensors", "offsets_span.safetensors", st({"q": t("F32", [3, 4], 0, 32)}, Q), "offsets span 32 bytes")
put("safetensors", "overlap.safetensors", st({"a": t("F32", [4], 0, 16), "b": t("F32", [4], 8, 24)}, Q), "overlap")
put("safetensors", "truncated_data.safetensors", st(GOOD, Q[:20]), "truncated or lying offsets")
put("safetensors", "nan.safetensors", st(GOOD, f32(V12[:5] + [float("nan")] + V12[6:8])), "holds NaN at")
put("safetensors", "inf_bf16.safetensors", st({"q": t("BF16", [2, 4], 0, 16)}, bf16(V12[:7] + [float("-inf")])),
    "holds Inf at")

# Capture metadata (export_qk's JSON under __metadata__["attnscope"]): the data reads as in
# ok.safetensors; "metadata" is the answer of reading the metadata and resolving each layer.
OK_TENSORS = {"layers.0.q": t("F32", [1, 2, 4], 0, 32), "layers.0.k": t("F16", [1, 2, 4], 32, 48),
              "layers.1.q": t("BF16", [1, 2, 4], 48, 64), "layers.1.k": t("F32", [2, 4], 64, 96)}
OK_DATA = Q + f16(V12[:8]) + bf16(V12[:8]) + Q


def layer_meta(layer, **change):
    m = {"layer": layer, "q": f"layers.{layer}.q", "k": f"layers.{layer}.k", "heads": 1, "kv_heads": 1, "head_dim": 4,
         "mask": "causal", "scale": 0.5, "rotary": {"applied": True, "base": 10000.0, "dims": 4, "style": "halves"}}
    m.update(change)
    return {k: v for k, v in m.items() if v is not None}


def capture(meta_layers, **top):
    m = {"version": 1, "producer": "corpus", "tokens": 2, "layout": "hnd", "layers": meta_layers}
    m.update(top)
    return st({"__metadata__": {"format": "pt", "attnscope": json.dumps(m)}, **OK_TENSORS}, OK_DATA)


put("safetensors", "meta_ok.safetensors",
    capture([layer_meta(0), layer_meta(1, mask="sliding_window", window=1, softcap=30.0)]), "ok", tensors=4,
    metadata="ok")
put("safetensors", "meta_not_object.safetensors",
    st({"__metadata__": [1, 2], **OK_TENSORS}, OK_DATA), "__metadata__ that is not a JSON object")
put("safetensors", "meta_value_number.safetensors",
    st({"__metadata__": {"format": 3}, **OK_TENSORS}, OK_DATA), "that is not a string")
put("safetensors", "meta_not_json.safetensors",
    st({"__metadata__": {"attnscope": "{layers"}, **OK_TENSORS}, OK_DATA), "ok", tensors=4, metadata="not valid JSON")
put("safetensors", "meta_future.safetensors", capture([layer_meta(0)], version=99), "ok", tensors=4,
    metadata="update attnscope")
put("safetensors", "meta_mask.safetensors", capture([layer_meta(0, mask="diagonal")]), "ok", tensors=4,
    metadata="'mask'")
put("safetensors", "meta_window.safetensors", capture([layer_meta(0, mask="sliding_window")]), "ok", tensors=4,
    metadata="'window'")
put("safetensors", "meta_dims.safetensors", capture([layer_meta(0, rotary={"applied": False, "base": 1e4,
                                                                           "dims": 3, "style": "halves"})]),
    "ok", tensors=4, metadata="'dims'")
put("safetensors", "meta_scale.safetensors", capture([layer_meta(0, scale=-0.125)]), "ok", tensors=4,
    metadata="'scale'")
put("safetensors", "meta_query_begin.safetensors", capture([layer_meta(0)], query_begin=2), "ok", tensors=4,
    metadata="'query_begin'")
put("safetensors", "meta_scaled_rope.safetensors",
    capture([layer_meta(0, rotary={"applied": False, "base": 5e5, "dims": 4, "style": "halves",
                                   "scaling": "llama3"})]), "ok", tensors=4, metadata="llama3 rope scaling")

# ---- tokens --------------------------------------------------------------------------------
put("tokens", "ok.json", json.dumps(["<s>", "The", "\u0120cat", "\n", "\u200b"]).encode(), "ok", n=5)
put("tokens", "ok_lines.txt", b"<s>\nThe\r\n cat\n\xff\xfe\n\n", "ok", n=5)
put("tokens", "not_json.json", b'["a", "b"', "not valid JSON", n=2)
put("tokens", "numbers.json", b"[1, 2]", "entry 0 is not a string", n=2)
put("tokens", "object.json", b'[{"a": 1}]', "entry 0 is not a string", n=1)
put("tokens", "count.json", b'["a", "b", "c"]', "holds 3 tokens but the map has n = 4", n=4)
put("tokens", "count_lines.txt", b"a\nb\n", "holds 2 tokens but the map has n = 3", n=3)

with open(os.path.join(ROOT, "expected.json"), "w") as f:
    json.dump(expected, f, indent=1, sort_keys=True)
    f.write("\n")
print(f"wrote {len(expected)} files under {os.path.relpath(ROOT)}", file=sys.stderr)
