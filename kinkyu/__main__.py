"""``python -m kinkyu``: the same as the ``kinkyu`` command."""

import sys

from kinkyu.cli import main

sys.exit(main())
