#!/usr/bin/env python3
"""What the browser bundle is made of: code bytes per crate, read from a WASM file's code
section and its name section. scripts/bundle-size.sh keeps the names in the files before
wasm-opt: target/front/wasm32-unknown-unknown/wasm-release/cortex_app_split.wasm is the
main module a storefront visitor downloads, cortex_app.wasm everything before the split.

    python3 scripts/wasm-breakdown.py FILE.wasm [TOP]
"""
import re
import sys
from collections import Counter


def leb(data, i):
    result = shift = 0
    while True:
        b = data[i]
        i += 1
        result |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return result, i


def sections(data):
    i = 8
    while i < len(data):
        sid = data[i]
        size, j = leb(data, i + 1)
        yield sid, data[j:j + size]
        i = j + size


def imported_functions(payload):
    count, i = leb(payload, 0)
    funcs = 0
    for _ in range(count):
        for _ in range(2):
            n, i = leb(payload, i)
            i += n
        kind = payload[i]
        i += 1
        if kind == 0:
            _, i = leb(payload, i)
            funcs += 1
        elif kind == 1:
            i += 1
            flags, i = leb(payload, i)
            _, i = leb(payload, i)
            if flags & 1:
                _, i = leb(payload, i)
        elif kind == 2:
            flags, i = leb(payload, i)
            _, i = leb(payload, i)
            if flags & 1:
                _, i = leb(payload, i)
        elif kind == 3:
            i += 2
        elif kind == 4:
            i += 1
            _, i = leb(payload, i)
    return funcs


ESCAPES = [('$LT$', '<'), ('$GT$', '>'), ('$RF$', '&'), ('$BP$', '*'), ('$u20$', ' '),
           ('$u27$', "'"), ('$u5b$', '['), ('$u5d$', ']'), ('$C$', ','), ('..', '::')]


def demangle_first(name):
    """The first path segment of a legacy-mangled name (`_ZN<len><text>…`), unescaped."""
    m = re.match(r'_ZN(\d+)', name)
    if not m:
        return name
    n = int(m.group(1))
    text = name[m.end():m.end() + n].lstrip('_')
    for a, b in ESCAPES:
        text = text.replace(a, b)
    return text


def crate_of(name):
    """The crate a function comes from: `crate::…`, or the type's crate in `<T as Trait>::…`."""
    name = demangle_first(name)
    name = re.sub(r'^[<&* ]+|^mut |^dyn ', '', name)
    name = re.sub(r'^[<&* ]+', '', name)
    m = re.match(r'([A-Za-z_][A-Za-z0-9_]*)', name)
    return m.group(1) if m else '?'


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    data = open(path, 'rb').read()
    imports = 0
    sizes = []
    names = {}
    data_bytes = 0
    for sid, payload in sections(data):
        if sid == 2:
            imports = imported_functions(payload)
        elif sid == 10:
            count, i = leb(payload, 0)
            for _ in range(count):
                size, i = leb(payload, i)
                sizes.append(size)
                i += size
        elif sid == 11:
            data_bytes = len(payload)
        elif sid == 0:
            n, i = leb(payload, 0)
            if payload[i:i + n] != b'name':
                continue
            i += n
            while i < len(payload):
                sub = payload[i]
                size, j = leb(payload, i + 1)
                if sub == 1:
                    count, k = leb(payload, j)
                    for _ in range(count):
                        idx, k = leb(payload, k)
                        ln, k = leb(payload, k)
                        names[idx] = payload[k:k + ln].decode('utf-8', 'replace')
                        k += ln
                i = j + size
    by_crate = Counter()
    for n, size in enumerate(sizes):
        by_crate[crate_of(names.get(imports + n, '?'))] += size
    total = sum(sizes)
    print(f'{path}: {len(data)} bytes; code {total}, data {data_bytes}, {len(sizes)} functions, {len(names)} named')
    for crate, size in by_crate.most_common(top):
        print(f'{size:>10}  {100 * size / total:5.1f} %  {crate}')


if __name__ == '__main__':
    main()
