"""ckeras/_capi.py declares every function of include/ckeras.h with its argument count, for the
header's ABI (so a C-level change shows here, in the one file to update)."""
import os
import re
import unittest

import ckutil
from ckeras import _capi


def header_functions(path):
    with open(path) as f:
        h = f.read()
    h = re.sub(r"/\*.*?\*/", "", h, flags=re.S)
    h = re.sub(r"^\s*#.*$", "", h, flags=re.M)
    major = None
    with open(path) as f:
        m = re.search(r"#define CKERAS_VERSION_MAJOR (\d+)", f.read())
        major = int(m.group(1))
    out = {}
    for ret, name, args in re.findall(r"CKERAS_API\s+([^;(]+?)\s*\b(ckeras_\w+)\s*\(([^)]*)\)\s*;", h, flags=re.S):
        args = " ".join(args.split())
        out[name] = 0 if args in ("", "void") else args.count(",") + 1
    return major, out


class Declarations(unittest.TestCase):
    def test_every_header_function_is_declared(self):
        path = os.environ.get("CKERAS_HEADER") or os.path.join(ckutil.ROOT, "include", "ckeras.h")
        major, funcs = header_functions(path)
        self.assertGreater(len(funcs), 150)
        old = {new: old for old, new in _capi.RENAMED.items()}
        for name, nargs in sorted(funcs.items()):
            key = name if name in _capi.SIGNATURES else old.get(name, name)
            self.assertIn(key, _capi.SIGNATURES, "%s is not declared in ckeras/_capi.py" % name)
            sig = _capi.SIGNATURES[key]
            if major >= 1 and key in _capi.SIGNATURES_1:
                sig = _capi.SIGNATURES_1[key]
            self.assertEqual(len(sig[1]), nargs, "%s: the header has %d arguments, _capi.py %d"
                             % (name, nargs, len(sig[1])))

    def test_loaded_library_matches(self):
        self.assertTrue(_capi.lib.has("ckeras_version"))
        self.assertEqual(_capi.lib.abi_major(), _capi.lib.ckeras_version_number() // 10000)
        with self.assertRaises(_capi.MissingSymbolError):
            _capi.lib.ckeras_no_such_function


if __name__ == "__main__":
    unittest.main()
