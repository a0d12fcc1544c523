#!/usr/bin/env python
"""Write sample LAO extracts into the landing zone (see dla_pipeline.generator).

scripts/generate_extracts.py --date 2026-11-05 --laos 0   # all 7,849 LAOs
scripts/generate_extracts.py --date 2026-11-05 --laos 300 --bad-fraction 0.05 --seed 7
"""

import sys

from dla_pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main(["generate", *sys.argv[1:]]))
