"""``python -m farm_addon``: the farm command line."""

import sys

from .core.cli import main

sys.exit(main())
