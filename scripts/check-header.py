#!/usr/bin/env python3
"""Checks the public headers' own rules (the conventions block of include/ckeras.h):
  - every CKERAS_API function returning ckeras_status has a Doxygen comment whose @return lists
    its statuses, ::CKERAS_OK first (or an @copydoc of a function that has one);
  - every CKERAS_API function returning a pointer to a ckeras object (a constructor or a lookup)
    says when it returns NULL;
  - every function group (@name) has a "Thread-safety:" line;
  - no CKERAS_API function takes `int flags` or a `void *` stream (flags are typed enums, a
    stream is a FILE *), and none returns a tensor id as a plain int (ids go out last).
Run from the source root: python3 scripts/check-header.py [header ...]; exit 1 on a violation."""
import re
import sys

STATUS = re.compile(r'::CKERAS_(OK|EINVAL|ENOMEM|ESHAPE|ESTATE|EIO|EFORMAT|EUNSUPPORTED|ENAN|STOP)\b')


def decls(text):
    """(comment, declaration, line) for each CKERAS_API declaration, comment = the /** */ block
    right before it (or "")."""
    out = []
    for m in re.finditer(r'^CKERAS_API\b[^;]*;', text, re.M):
        before = text[:m.start()].rstrip()
        comment = ''
        if before.endswith('*/'):
            start = before.rfind('/**')
            if start >= 0 and '*/' not in before[start:-2]:
                comment = before[start:]
        out.append((comment, ' '.join(m.group(0).split()), text.count('\n', 0, m.start()) + 1))
    return out


def main(paths):
    bad = []
    docs = {}
    items = []
    for path in paths:
        text = open(path, encoding='utf-8').read()
        for comment, decl, line in decls(text):
            name = re.search(r'\b(ckeras_\w+)\s*\(', decl).group(1)
            docs[name] = comment
            items.append((path, line, name, comment, decl))
        # groups: each "@name" comment block up to its "@{" must state its thread-safety
        for m in re.finditer(r'/\*\*\s*@name\b(.*?)\*/', text, re.S):
            if not re.search(r'Thread-safety:', m.group(1)):
                title = m.group(1).strip().splitlines()[0]
                bad.append('%s:%d: group "%s" has no "Thread-safety:" line'
                           % (path, text.count('\n', 0, m.start()) + 1, title))
    for path, line, name, comment, decl in items:
        where = '%s:%d: %s' % (path, line, name)
        ret = decl[len('CKERAS_API '):decl.index(name)].strip()
        if ret == 'ckeras_status':
            doc = comment
            cd = re.search(r'@copydoc\s+(ckeras_\w+)', comment)
            if cd and '@return' not in comment:
                doc = docs.get(cd.group(1), '')
            r = re.search(r'@return\b(.*?)(?=\n\s*\*\s*@|\*/)', doc, re.S)
            if not r:
                bad.append(where + ': returns ckeras_status but its comment has no @return list')
            else:
                found = STATUS.findall(r.group(1))
                if not found or found[0] != 'OK':
                    bad.append(where + ': @return must list ::CKERAS_OK first, then the errors')
                elif len(found) < 2 and 'cannot fail' not in r.group(1):
                    bad.append(where + ': @return lists no error status')
        elif re.match(r'ckeras_(model|layer|optimizer|callback|fit_args|scaler|tensor|data_source|history)\s*\*$', ret):
            if 'NULL' not in comment:
                bad.append(where + ': returns a pointer but its comment does not say when it is NULL')
        if re.search(r'\bint flags\b', decl):
            bad.append(where + ': `int flags`: use the group\'s flags enum')
        if re.search(r'\bvoid \*(out|stream|fp|file)\b', decl):
            bad.append(where + ': a stream is a FILE *')
        if ret == 'int' and re.search(r'tensor id', comment):
            bad.append(where + ': returns a tensor id as int: return ckeras_status, the id out last')
    for b in bad:
        print('check-header: ' + b)
    n = len(items)
    if bad:
        print('check-header: FAILED (%d problems in %d functions)' % (len(bad), n))
        return 1
    print('check-header: ok: %d functions, statuses listed, groups state their thread-safety' % n)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:] or ['include/ckeras.h', 'include/ckeras_mpi.h']))
