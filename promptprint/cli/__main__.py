"""`python -m promptprint.cli ...`: the same as the `promptprint` console script."""

import sys

from promptprint.cli.dispatch import main

sys.exit(main())
