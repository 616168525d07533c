"""`python -m consumer` is the `content-classifier` command."""

from consumer.cli import main

raise SystemExit(main())
