"""A small model process for crates/cli/tests/exec.rs, written against gradproof-protocol 1 with
the standard library alone (no numpy: these tests run wherever python3 does), correct or broken
on purpose. ``model.py MODE [N]``; the model is J(w) = Σ wᵢ² over one tensor ``w`` of shape [3]
(or Σ max(wᵢ, 0) at a kink in mode relu), and MODE says what goes wrong at request N
(default 1):

ok            answers correctly (f32: the same in float32)
crash         exits with status 3 instead of answering
hang          never answers
hang-first    the first copy to start never answers, the others do (a file in $MODEL_DIR decides)
garbage       prints a line of text instead of an answer
close         closes its stdout and keeps running
wrong-size    answers every gradient with 2 values instead of 3 (costs are right)
error         reports an error ("the cost blew up")
handshake     prints a traceback-like line instead of a handshake
relu          Σ max(wᵢ, 0) at w = [0.5, 0, -1], with signatures (which ReLUs are active): the
              coordinate at 0 is a kink, not a bug

Each copy writes its pid to $MODEL_DIR/pid-<pid> when MODEL_DIR is set.
"""

import json
import os
import struct
import sys
import time

mode = sys.argv[1]
trigger = int(sys.argv[2]) if len(sys.argv) > 2 else 1
inp, out = sys.stdin.buffer, sys.stdout.buffer
directory = os.environ.get("MODEL_DIR")
if directory:
    open(os.path.join(directory, f"pid-{os.getpid()}"), "w").close()
fmt = "<f" if mode == "f32" else "<d"
width = struct.calcsize(fmt)
relu = mode.startswith("relu")
theta = [0.5, 0.0, -1.0] if relu else [0.5, -1.25, 2.0]

if mode == "handshake":
    out.write(b"Traceback (most recent call last): oops\n")
    out.flush()
    time.sleep(60)
header = {"protocol": "gradproof-protocol 1", "dtype": "f32" if mode == "f32" else "f64",
          "tensors": [{"name": "w", "shape": [3]}], "signatures": relu}
out.write(json.dumps(header).encode() + b"\n")


def frame(values):
    return struct.pack("<Q", len(values)) + b"".join(struct.pack(fmt, v) for v in values)


def read(n):
    data = inp.read(n)
    if len(data) != n:
        sys.exit(0)
    return data


out.write(frame(theta))
out.flush()
hangs = False
if mode == "hang-first":
    try:
        os.close(os.open(os.path.join(directory, "first"), os.O_CREAT | os.O_EXCL))
        hangs = True
    except FileExistsError:
        pass
request = 0
while True:
    tag = inp.read(1)
    if not tag:
        sys.exit(0)
    (count,) = struct.unpack("<Q", read(8))
    w = [struct.unpack(fmt, read(width))[0] for _ in range(count)]
    request += 1
    now = request == trigger
    if now and mode == "crash":
        sys.exit(3)
    if now and (mode == "hang" or hangs):
        time.sleep(3600)
    if now and mode == "garbage":
        out.write(b"hello from the model\n")
        out.flush()
        continue
    if now and mode == "close":
        os.close(1)
        time.sleep(3600)
    if now and mode == "error":
        message = b"the cost blew up"
        out.write(b"E" + struct.pack("<I", len(message)) + message)
        out.flush()
        continue
    if relu:
        cost = sum(max(v, 0.0) for v in w)
        grad = [1.0 if v > 0 else 0.0 for v in w]
    else:
        cost = sum(v * v for v in w)
        grad = [2 * v for v in w]
    if tag == b"G":
        out.write(b"R" + frame(grad[:2] if mode == "wrong-size" else grad))
    elif tag == b"S":
        signature = sum(1 << i for i, v in enumerate(w) if v > 0)
        out.write(b"R" + frame([cost]) + struct.pack("<Q", signature))
    else:
        out.write(b"R" + frame([cost]))
    out.flush()
