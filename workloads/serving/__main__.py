"""``python -m workloads.serving``: see :mod:`workloads.serving.cli` for the flags."""

from __future__ import annotations

import sys

from workloads.serving.cli import main

if __name__ == "__main__":
    sys.exit(main())
