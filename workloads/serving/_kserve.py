"""Import KServe without letting it read our command line.

``kserve/__init__`` imports ``kserve.model_server``, which runs ``argparse`` over
``sys.argv`` at import time (with prefix abbreviations): our own flags, or pytest's,
could be mistaken for KServe's or make it exit. Importing through this module hides
``sys.argv`` for the duration of the import; KServe then sees its defaults, and our
CLI passes every setting explicitly.
"""

from __future__ import annotations

import sys

_saved = sys.argv
sys.argv = _saved[:1]
try:
    import kserve
    from kserve.errors import InvalidInput, ModelNotFound
    from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
finally:
    sys.argv = _saved

__all__ = [
    "InferOutput",
    "InferRequest",
    "InferResponse",
    "InvalidInput",
    "ModelNotFound",
    "kserve",
]
