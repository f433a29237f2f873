#!/usr/bin/env python3
"""Docs that cannot drift (issue #14 item 5), run by tests/test_docs.sh in `make check`.

The public functions are read from the headers (every CKERAS_API declaration of
include/ckeras.h and include/ckeras_mpi.h; no list is kept here), then:
  1. each has a Doxygen comment block (/** ... */ with text, not only a group marker) right
     before its declaration;
  2. docs/ckeras.3 names each as a function (`.BR name ()`, `name(` in the synopsis or an
     example), and every function it names exists in a header (a renamed or removed function
     left in the page fails);
  3. with --xml DIR (Doxygen's XML output of docs/Doxyfile, when doxygen is installed), the
     reference has each as a documented function.
Each failure names the function. Usage: python3 tests/check_docs.py [--xml DIR]   (from the
source root)."""
import re
import sys
import xml.etree.ElementTree as ET

HEADERS = ["include/ckeras.h", "include/ckeras_mpi.h"]
MAN = "docs/ckeras.3"
DECL = re.compile(r"^\s*CKERAS_API\b[^;{]*?\b(ckeras_\w+)\s*\(", re.M)
# a function named in the man page: the name, optionally a font change or one space and a
# quote, then "(" (".BR ckeras_x ()", ".BR ckeras_x \"() ...\"", "ckeras_x(" in code)
MAN_FN = re.compile(r"\b(ckeras_\w+)(?:\\f[RBIP])?(?: ?\"| )?\(")
GROUP_ONLY = re.compile(r"^\s*(@\{|@\}|@name\b.*|@file\b.*|@defgroup\b.*)?\s*$", re.S)


def blank_comments(text):
    """Comments replaced by spaces (newlines kept), so offsets stay those of the text."""
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.S)


def functions(path):
    """[(name, line, has_doc)] for the CKERAS_API functions of a header."""
    raw = open(path, encoding="utf-8").read()
    code = blank_comments(raw)
    out = []
    for m in DECL.finditer(code):
        start = m.start() + len(m.group(0)) - len(m.group(0).lstrip())
        line = raw.count("\n", 0, start) + 1
        before = raw[:start].rstrip()
        doc = False
        if before.endswith("*/"):
            open_at = before.rfind("/*")
            body = before[open_at:]
            if body.startswith("/**") or body.startswith("/*!"):
                text = re.sub(r"^/\*[*!]<?|\*/$", "", body)
                text = re.sub(r"^\s*\*", "", text, flags=re.M)
                doc = not GROUP_ONLY.match(text)
        else:
            m2 = re.search(r"(?:^[ \t]*///[^\n]*\n?)+$", raw[:start].rstrip(" \t"), re.M)
            doc = bool(m2 and m2.group(0).strip("/ \n\t"))
        out.append((m.group(1), line, doc))
    return out


def main(argv):
    xml_dir = argv[argv.index("--xml") + 1] if "--xml" in argv else None
    fail = 0
    decls = []
    for h in HEADERS:
        decls += [(h,) + f for f in functions(h)]
    names = [d[1] for d in decls]
    if len(names) < 10:
        print(f"check_docs: FAIL: found only {len(names)} CKERAS_API functions in {', '.join(HEADERS)}")
        return 1
    dups = sorted({n for n in names if names.count(n) > 1})
    if dups:
        print("check_docs: FAIL: declared more than once: " + " ".join(dups))
        fail = 1

    undoc = [f"{h}:{line}: {n}" for h, n, line, doc in decls if not doc]
    for u in undoc:
        print(f"check_docs: FAIL: no Doxygen comment block before {u}")
    fail |= bool(undoc)
    if not undoc:
        print(f"check_docs: ok: every one of the {len(names)} public functions has a Doxygen comment")

    man = open(MAN, encoding="utf-8").read()
    named = set(MAN_FN.findall(man))
    missing = [n for n in names if n not in named]
    stale = sorted(named - set(names))
    for n in missing:
        print(f"check_docs: FAIL: {MAN} does not list {n}() (declared in "
              f"{next(h for h, m, _, _ in decls if m == n)})")
    for n in stale:
        print(f"check_docs: FAIL: {MAN} names {n}(), which no header declares (renamed or removed?)")
    fail |= bool(missing or stale)
    if not missing and not stale:
        print(f"check_docs: ok: {MAN} lists all {len(names)} public functions and no other")

    if xml_dir:
        documented, seen = set(), set()
        for f in ("ckeras_8h.xml", "ckeras__mpi_8h.xml"):
            try:
                root = ET.parse(f"{xml_dir}/{f}").getroot()
            except (OSError, ET.ParseError) as e:
                print(f"check_docs: FAIL: Doxygen XML {xml_dir}/{f}: {e}")
                fail = 1
                continue
            for md in root.iter("memberdef"):
                if md.get("kind") != "function":
                    continue
                n = md.findtext("name")
                seen.add(n)
                text = "".join(md.find("briefdescription").itertext()) + \
                    "".join(md.find("detaileddescription").itertext())
                if text.strip():
                    documented.add(n)
        bad = [n for n in names if n not in documented]
        for n in bad:
            print(f"check_docs: FAIL: the Doxygen reference {'lacks' if n not in seen else 'has no text for'} {n}()")
        fail |= bool(bad)
        if not bad:
            print(f"check_docs: ok: the Doxygen reference documents all {len(names)} public functions")
    print("check_docs: " + ("FAILED" if fail else "passed"))
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
