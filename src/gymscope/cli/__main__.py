"""``python -m gymscope.cli``: the ``gymscope`` command."""

from __future__ import annotations

import sys

from gymscope.cli import main

if __name__ == "__main__":
    sys.exit(main())
