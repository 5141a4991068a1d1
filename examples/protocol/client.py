"""``serve`` from the installed package (``gradproof.protocol``), or, without it, from this
checkout's python/gradproof/protocol.py: the client needs only numpy."""

import importlib.util
from pathlib import Path

try:
    from gradproof.protocol import serve
except ImportError:  # gradproof not installed (or its extension not built): the file itself
    _path = Path(__file__).resolve().parents[2] / "python" / "gradproof" / "protocol.py"
    _spec = importlib.util.spec_from_file_location("gradproof_protocol", _path)
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
    serve = _module.serve

__all__ = ["serve"]
