"""``python -m lepton_codesign``: the same as the ``lepton-codesign`` command."""

import sys

from lepton_codesign.cli import main

if __name__ == "__main__":
    sys.exit(main())
