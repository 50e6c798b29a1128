"""`python -m smugfs` runs the command line."""

from smugfs.cli import main

raise SystemExit(main())
