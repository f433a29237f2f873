"""Shared by the tests: imports the package from this checkout (python/) and names the repo."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
if os.path.join(ROOT, "python") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "python"))

import ckeras  # noqa: E402,F401


def fixture(*parts):
    return os.path.join(ROOT, "tests", "fixtures", *parts)
