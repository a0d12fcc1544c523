"""(Re)fetch the vendored data docs assets listed in vendor.yml from the npm registry.

    .venv/bin/python expectations/gx/vendor/fetch.py          # write the files
    .venv/bin/python expectations/gx/vendor/fetch.py --check  # compare, change nothing

Each package is fetched with ``npm pack <name>@<version>`` (the npm client checks the
tarball against the registry's integrity hash); only the files vendor.yml lists are
taken from it. Licence files written by hand (packages that ship none) are left alone.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def fetch(check: bool) -> int:
    manifest = yaml.safe_load((HERE / "vendor.yml").read_text())
    differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        for pkg in manifest["packages"]:
            out = subprocess.run(
                ["npm", "pack", pkg["npm"], "--pack-destination", tmp, "--silent"],
                check=True,
                capture_output=True,
                text=True,
            )
            tgz = Path(tmp) / out.stdout.strip().splitlines()[-1]
            with tarfile.open(tgz) as tar:
                for name, inner in pkg["files"].items():
                    data = tar.extractfile(f"package/{inner}").read()
                    target = HERE / pkg["dir"] / name
                    if check:
                        if not target.exists() or target.read_bytes() != data:
                            print(f"differs from {pkg['npm']}: {target.relative_to(HERE)}")
                            differ += 1
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(data)
            for name in pkg.get("urls", {}).values():
                if name not in pkg["files"]:
                    sys.exit(f"vendor.yml: {pkg['npm']}: {name} is not among its files")
            print(f"{'checked' if check else 'fetched'} {pkg['npm']}")
    return 1 if differ else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only")
    sys.exit(fetch(parser.parse_args().check))
