"""`python -m radiator_assets.emulator --port 8089 --issues 2000 --seed 7`."""

import sys

from radiator_assets.emulator.cli import main

sys.exit(main())
