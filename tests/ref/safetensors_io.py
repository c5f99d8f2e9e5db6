"""A minimal safetensors reader and writer in plain Python (no `safetensors` package), for the
PyTorch reference (tests/ref/ldm_reference.py) and the comparer (tests/ref/compare.py).

Format (huggingface/safetensors README): 8 bytes N (unsigned little-endian), N bytes of UTF-8
JSON {"__metadata__": {str: str}, NAME: {"dtype", "shape", "data_offsets": [begin, end]}}, then
the data; offsets count from the first byte after the header; row-major, little-endian.

Dtypes: F32, F16, BF16, I64, I32 (F64 too, for completeness). The parsing and validation below
need only the standard library; turning bytes into tensors needs torch (to_torch / save of torch
tensors) or falls back to numpy / the array module (to_floats), so compare.py runs on any python3.

Files written here are deterministic: tensors sorted by name, data packed in that order, header
padded with spaces to a multiple of 8 bytes (as the reference library does).
"""
import array
import json
import mmap
import struct
import sys

DTYPE_SIZE = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4}
MAX_HEADER = 100_000_000  # the reference library's limit


class SafetensorsError(ValueError):
    pass


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def parse_header(buf, path="<buffer>"):
    """Validates the header of a whole file's bytes (bytes or mmap). Returns (entries, metadata,
    data_start) with entries = {name: (dtype, shape, begin, end)} in absolute file offsets."""
    if len(buf) < 8:
        raise SafetensorsError(f"{path}: too short for a safetensors file ({len(buf)} bytes)")
    (n,) = struct.unpack("<Q", buf[:8])
    if n == 0 or n > MAX_HEADER or 8 + n > len(buf):
        raise SafetensorsError(f"{path}: header length {n} is invalid for a {len(buf)}-byte file")
    try:
        header = json.loads(bytes(buf[8:8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"{path}: header is not UTF-8 JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    data_start, data_len = 8 + n, len(buf) - 8 - n
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise SafetensorsError(f"{path}: __metadata__ must map strings to strings")
    entries, spans = {}, []
    for name, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise SafetensorsError(f"{path}: tensor '{name}': entry needs dtype, shape, data_offsets")
        dt, shape, offs = e["dtype"], e["shape"], e["data_offsets"]
        if dt not in DTYPE_SIZE:
            raise SafetensorsError(f"{path}: tensor '{name}': unknown dtype {dt!r}")
        if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
            raise SafetensorsError(f"{path}: tensor '{name}': bad shape {shape!r}")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(type(o) is int and o >= 0 for o in offs)
                or offs[1] < offs[0] or offs[1] > data_len):
            raise SafetensorsError(f"{path}: tensor '{name}': bad data_offsets {offs!r}")
        need = _numel(shape) * DTYPE_SIZE[dt]
        if offs[1] - offs[0] != need:
            raise SafetensorsError(f"{path}: tensor '{name}': data_offsets {offs} hold "
                                   f"{offs[1] - offs[0]} bytes, shape {shape} of {dt} needs {need}")
        entries[name] = (dt, shape, data_start + offs[0], data_start + offs[1])
        spans.append((offs[0], offs[1], name))
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0 and e1 > b1 and e0 > b0:  # empty tensors share nothing
            raise SafetensorsError(f"{path}: tensors '{n0}' and '{n1}' share bytes")
    return entries, meta, data_start


class File:
    """An open (memory-mapped) safetensors file: .names, .meta, .entry(name), .raw(name)."""

    def __init__(self, path):
        self.path = path
        self._f = open(path, "rb")
        try:
            self._buf = mmap.mmap(self._f.fileno(), 0, access=mmap.ACCESS_READ)
        except ValueError:  # an empty file cannot be mapped
            self._buf = b""
        self.entries, self.meta, _ = parse_header(self._buf, path)
        self.names = sorted(self.entries)

    def close(self):
        if isinstance(self._buf, mmap.mmap):
            self._buf.close()
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __contains__(self, name):
        return name in self.entries

    def entry(self, name):
        dt, shape, _, _ = self.entries[name]
        return dt, list(shape)

    def raw(self, name):
        dt, shape, b, e = self.entries[name]
        return dt, list(shape), bytes(self._buf[b:e])


# ---- bytes <-> numbers without torch ----

def to_floats(dtype, data):
    """Decodes little-endian tensor bytes to a flat sequence of Python-float-compatible values:
    a numpy float64 array when numpy is importable, else an array('d')."""
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is not None:
        if dtype == "BF16":
            u = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
            return u.view(np.float32).astype(np.float64)
        npdt = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4"}[dtype]
        return np.frombuffer(data, dtype=npdt).astype(np.float64)
    n = len(data) // DTYPE_SIZE[dtype]
    if dtype == "BF16":
        hi = struct.unpack(f"<{n}H", data)
        return array.array("d", struct.unpack(f"<{n}f", struct.pack(f"<{n}I", *(h << 16 for h in hi))))
    code = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i"}[dtype]
    return array.array("d", (float(v) for v in struct.unpack(f"<{n}{code}", data)))


# ---- torch tensors ----

def _torch_dtypes():
    import torch
    return {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
            "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32}


def to_torch(dtype, shape, data):
    """A torch tensor (its own memory) from tensor bytes."""
    import torch
    tdt = _torch_dtypes()[dtype]
    if _numel(shape) == 0:
        return torch.empty(shape, dtype=tdt)
    if sys.byteorder != "little":
        raise SafetensorsError("big-endian hosts are not supported")
    return torch.frombuffer(bytearray(data), dtype=tdt).reshape(shape).clone()


def load(path, names=None, prefix=None):
    """{name: torch tensor} of the file (only `names`, or only names starting with `prefix`, when
    given), and the metadata."""
    with File(path) as f:
        want = [n for n in f.names if (names is None or n in names)
                and (prefix is None or n.startswith(prefix))]
        out = {n: to_torch(*f.raw(n)) for n in want}
        return out, dict(f.meta)


def _torch_bytes(t):
    import torch
    rev = {v: k for k, v in _torch_dtypes().items()}
    if t.dtype not in rev:
        raise SafetensorsError(f"dtype {t.dtype} is not one this writer supports")
    dt = rev[t.dtype]
    t = t.detach().cpu().contiguous()
    if dt == "BF16":  # numpy has no bfloat16: write the raw 16-bit patterns
        t = t.view(torch.int16)
    return dt, list(t.shape), t.numpy().tobytes()


def save(path, tensors, metadata=None):
    """Writes {name: torch tensor | (dtype, shape, bytes)} with optional string metadata."""
    items = []
    for name in sorted(tensors):
        v = tensors[name]
        if isinstance(v, tuple):
            dt, shape, data = v
            shape = list(shape)
        else:
            dt, shape, data = _torch_bytes(v)
        if dt not in DTYPE_SIZE or len(data) != _numel(shape) * DTYPE_SIZE[dt]:
            raise SafetensorsError(f"tensor '{name}': {len(data)} bytes for {dt} {shape}")
        items.append((name, dt, shape, data))
    header, off = {}, 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in sorted(metadata.items())}
    for name, dt, shape, data in items:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)))
        f.write(hb)
        for _, _, _, data in items:
            f.write(data)
