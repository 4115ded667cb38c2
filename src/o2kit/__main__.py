"""Allow ``python -m o2kit``."""

from o2kit.cli import main

main()
