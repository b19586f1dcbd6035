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


if __name__ == '__main__':
    for path in sys.argv[1:]:
        with open(path) as f:
            text = f.read()
        slimmed = slim(text)
        if slimmed != text:
            with open(path, 'w') as f:
                f.write(slimmed)
