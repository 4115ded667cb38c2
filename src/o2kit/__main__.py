"""Allow ``python -m o2kit``."""

from o2kit.cli.app import main

main()
