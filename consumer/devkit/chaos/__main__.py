"""`python -m consumer.devkit.chaos --seed N ...`: see `consumer.devkit.chaos.cli`."""

import sys

from consumer.devkit.chaos.cli import main

sys.exit(main())
