"""A model written in Python, checked by ``gradproof check --exec "python3 model.py"``: the model's
side of gradproof-protocol 1 (docs/protocol.md). ``serve(params, cost, grad)`` writes the handshake
(the tensors' names, shapes and dtype, then θ) and answers cost and gradient requests on
stdin/stdout until gradproof closes stdin::

    from gradproof.protocol import serve
    serve(parameters, cost, grad)   # cost(params) -> float, grad(params) -> {"dW1": ..., ...}

Only numpy and the standard library: it does not need the Rust extension, and this file can be
copied next to a model as it is. An exception in ``cost`` or ``grad`` is sent to gradproof as an
error answer (the check stops, showing its message). While serving, ``print`` writes to stderr:
stdout carries the protocol's bytes.
"""

from __future__ import annotations

import json
import struct
import sys
from typing import BinaryIO, Callable, Dict, Mapping, Optional

import numpy as np
import numpy.typing as npt

VERSION = "gradproof-protocol 1"

#: The dtypes the protocol carries, as the handshake names them (little-endian on the wire).
DTYPES = {np.dtype(np.float64): ("f64", "<f8"), np.dtype(np.float32): ("f32", "<f4")}

Arrays = Dict[str, np.ndarray]


def serve(
    params: Mapping[str, np.ndarray],
    cost: Callable[[Arrays], float],
    grad: Callable[[Arrays], Mapping[str, np.ndarray]],
    signature: Optional[Callable[[Arrays], int]] = None,
    stdin: Optional[BinaryIO] = None,
    stdout: Optional[BinaryIO] = None,
) -> None:
    """Serves ``cost`` and ``grad`` at the points gradproof asks for, until stdin closes.

    ``params``: the named parameter arrays, all float64 or all float32 (their order is the
    protocol's). ``cost`` and ``grad`` receive a dict of arrays of the same names and shapes;
    ``grad`` returns each gradient under the parameter's name or the notebook's ``"d" + name``.
    ``signature`` (optional): an integer identifying the smooth piece of a piecewise cost (e.g. a
    hash of which ReLUs are active), which lets gradproof tell a kink from a bug.
    """
    layout = _Layout(params)
    out = stdout if stdout is not None else sys.stdout.buffer
    inp = stdin if stdin is not None else sys.stdin.buffer
    printed_to = sys.stdout
    if stdout is None:
        sys.stdout = sys.stderr  # a stray print() must not corrupt the answers
    try:
        out.write(layout.handshake(signature is not None))
        out.flush()
        while True:
            tag = inp.read(1)
            if not tag:
                return  # gradproof closed stdin: the protocol's shutdown
            point = layout.read(inp)
            try:
                if tag == b"C":
                    answer = layout.frame([cost(point)])
                elif tag == b"G":
                    answer = layout.frame(layout.gradient(grad(point)))
                elif tag == b"S" and signature is not None:
                    piece = int(signature(point)) & 0xFFFF_FFFF_FFFF_FFFF
                    answer = layout.frame([cost(point)]) + struct.pack("<Q", piece)
                else:
                    raise SystemExit(f"gradproof.protocol: unknown request tag {tag!r}")
            except Exception as error:  # the model's own failure, reported to gradproof
                message = f"{type(error).__name__}: {error}".encode()[:65536]
                out.write(b"E" + struct.pack("<I", len(message)) + message)
            else:
                out.write(b"R" + answer)
            out.flush()
    finally:
        sys.stdout = printed_to


class _Layout:
    """The tensors' names, shapes and places in θ, and the wire dtype."""

    def __init__(self, params: Mapping[str, np.ndarray]):
        self.names = list(params)
        self.arrays = [np.asarray(params[name]) for name in self.names]
        kinds = {a.dtype for a in self.arrays}
        if len(kinds) != 1 or not kinds <= DTYPES.keys():
            raise TypeError(f"params must be all float64 or all float32 arrays, got {sorted(map(str, kinds))}")
        self.dtype_name, self.wire = DTYPES[kinds.pop()]
        self.shapes = [a.shape for a in self.arrays]
        self.ends = [int(e) for e in np.cumsum([a.size for a in self.arrays])]
        self.starts = [0, *self.ends[:-1]]

    def handshake(self, signatures: bool) -> bytes:
        header = {
            "protocol": VERSION,
            "dtype": self.dtype_name,
            "tensors": [{"name": n, "shape": list(s)} for n, s in zip(self.names, self.shapes)],
            "signatures": signatures,
        }
        theta = np.concatenate([a.ravel() for a in self.arrays])
        return json.dumps(header).encode() + b"\n" + self.frame(theta)

    def frame(self, values: npt.ArrayLike) -> bytes:
        """A frame: the count, then the values in the wire dtype."""
        values = np.ascontiguousarray(values, dtype=self.wire)
        return struct.pack("<Q", values.size) + values.tobytes()

    def read(self, inp: BinaryIO) -> Arrays:
        """A request's θ frame, as a dict of arrays."""
        count = struct.unpack("<Q", _read_exactly(inp, 8))[0]
        if count != self.ends[-1]:
            raise SystemExit(f"gradproof.protocol: a frame of {count} values, expected {self.ends[-1]}")
        data = _read_exactly(inp, count * np.dtype(self.wire).itemsize)
        theta = np.frombuffer(data, dtype=self.wire).astype(self.wire[1:])
        return {n: theta[a:e].reshape(s) for n, s, a, e in zip(self.names, self.shapes, self.starts, self.ends)}

    def gradient(self, returned: Mapping[str, np.ndarray]) -> np.ndarray:
        """``grad``'s dict, checked and flattened in the tensors' order."""
        parts = []
        for name, shape in zip(self.names, self.shapes):
            key = "d" + name if "d" + name in returned else name
            if key not in returned:
                raise KeyError(f"grad returned no gradient for {name!r} (expected key {'d' + name!r} or {name!r})")
            part = np.asarray(returned[key], dtype=np.float64)
            if part.shape != shape:
                raise ValueError(f"grad returned {key} of shape {part.shape}, expected {shape}")
            parts.append(part.ravel())
        return np.concatenate(parts)


def _read_exactly(inp: BinaryIO, n: int) -> bytes:
    data = inp.read(n)
    if len(data) != n:
        raise SystemExit(f"gradproof.protocol: input ended inside a frame ({len(data)} of {n} bytes)")
    return data
