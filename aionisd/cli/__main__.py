"""`python -m aionisd.cli`: the same command line as the `aionis` script."""

import sys

from aionisd.cli import main

sys.exit(main())
