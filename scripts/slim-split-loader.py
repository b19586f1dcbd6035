#!/usr/bin/env python3
"""Makes the WASM split loader (`target/site/pkg/__wasm_split.*.js`, written by
`cargo leptos build --split` and loaded by every page) smaller without changing what it
does: drops the comments above each chunk (the pages that share it) and lets every chunk's
loader call one shared function instead of repeating its code. A file in another shape is
left as it is (only the comments go), so a newer cargo-leptos cannot be broken by it.

    python3 scripts/slim-split-loader.py FILE.js
"""
import re
import sys

LOADER = re.compile(
    r'makeLoad\(\(\) => \{\n\s*const src = fetch\(new URL\("\./([A-Za-z0-9_]+)\.wasm", import\.meta\.url\)\);\n'
    r'\s*return async \(imports\) => (.+?);\n\}\n, '
)


def slim(text):
    text = re.sub(r'/\*.*?\*/\n?', '', text, flags=re.S)
    bodies = {m.group(2) for m in LOADER.finditer(text)}
    end = text.find('\n}\n', text.find('function makeLoad('))
    # Only when every chunk loads the same way (a release build, or a debug one with its
    # wrapper): the shared function then does exactly what each did.
    if end < 0 or len(bodies) != 1:
        return text
    (body,) = bodies
    shared = ('const __load = (file, deps) => makeLoad(() => { const src = fetch(new URL("./" + file + ".wasm", '
              f'import.meta.url)); return async (imports) => {body}; }}, deps);\n')
    text = LOADER.sub(lambda m: f'__load("{m.group(1)}", ', text)
    end = text.find('\n}\n', text.find('function makeLoad(')) + 3
    return text[:end] + shared + text[end:]


CHUNK = re.compile(r'const __chunk_(\d+) = __load\("chunk_(\d+)", \[\]\);\n')
DEPS = re.compile(r'\[((?:__chunk_\d+(?:, )?)+)\]')
RANGES = ('const __ch = [];\n'
          'const __deps = (s) => s.split(",").flatMap((r) => { const [a, b = a] = r.split("-").map(Number); '
          'const out = []; for (let n = a; n <= b; n++) out.push(__ch[n] || (__ch[n] = __load("chunk_" + n, []))); '
          'return out; });\n')


def ranges(numbers):
    """`1-3,5`: the numbers as runs."""
    out, start, prev = [], None, None
    for n in numbers:
        if start is not None and n == prev + 1:
            prev = n
            continue
        if start is not None:
            out.append(f'{start}-{prev}' if prev > start else f'{start}')
        start = prev = n
    if start is not None:
        out.append(f'{start}-{prev}' if prev > start else f'{start}')
    return ','.join(out)


def rangify(text):
    """Chunks without dependencies are made when first named, and each split's list of
    chunks is written as runs of numbers (`__deps("19-83,90")`) rather than a name per
    chunk: the loader lists every chunk once per split that needs it, which grows with
    every admin page. Only when every chunk is declared that way and named nowhere else."""
    decls = CHUNK.findall(text)
    if not decls or any(a != b for a, b in decls):
        return text
    body = CHUNK.sub('', text)
    if re.search(r'__chunk_\d+', DEPS.sub('', body)):
        return text
    declared = {int(a) for a, _ in decls}

    def deps(m):
        numbers = sorted(int(n) for n in re.findall(r'__chunk_(\d+)', m.group(1)))
        if not set(numbers) <= declared:
            raise ValueError('a chunk named but not declared')
        return f'__deps("{ranges(numbers)}")'

    try:
        body = DEPS.sub(deps, body)
    except ValueError:
        return text
    at = body.find('const __load = ')
    end = body.find('\n', at) + 1
    if at < 0:
        return text
    return body[:end] + RANGES + body[end:]


if __name__ == '__main__':
    for path in sys.argv[1:]:
        with open(path) as f:
            text = f.read()
        slimmed = rangify(slim(text))
        if slimmed != text:
            with open(path, 'w') as f:
                f.write(slimmed)
