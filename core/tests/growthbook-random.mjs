// Random targeting conditions with mixed types, answered by GrowthBook's own JavaScript SDK.
// Seeded, so the cases are the same on every run: `node core/tests/growthbook-random.mjs`
// checks that GrowthBook still gives every committed answer in
// core/tests/fixtures/random-conditions.json (the Rust spec test requires the same answers
// from cortex-core); `--write` regenerates the file.
//
// Objects are generated with their keys in sorted order: serde_json (without its
// preserve_order feature) keeps object keys sorted, so a condition comparing whole objects
// whose keys are in another order is the one known difference and is not generated.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { evalCondition } = require('@growthbook/growthbook');
const file = new URL('./fixtures/random-conditions.json', import.meta.url);
const CASES = 3000;
console.error = () => {}; // unknown operators are logged by the SDK; expected here

// mulberry32: a small, seeded generator.
let seed = 0x5eed2026;
function random() {
  seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (list) => list[Math.floor(random() * list.length)];
const chance = (p) => random() < p;

const KEYS = ['a', 'b', 'n', 's', 'tags', 'v', 'o'];
const NUMBERS = [0, 1, -1, 2, 5, 10, 42, 0.5, 1.5, -2.25, 1e-7, 1.5e-7, 1e-6, 2.5e-6, 1e21, 1.5e21, 1e20,
  123456789012345680000, 9007199254740993, 3.14, 100, 1e-10];
const STRINGS = ['', 'a', 'b', 'A', 'abc', 'ABC', 'x', 'y', '1', '5', '10', '42', ' 42 ', '\u00855', '5\u0085',
  '\uFEFF7', '\u00a08', '\u20289', '0x1A', '0x1a', '-0x1A', '+0x1A', '0x', '0xFFFFFFFFFFFFFFFFF',
  '0x20000000000001', '0x1fffffffffffff1', '0b101', '0o17', '1e-7', '1e21', '1e-6', '0.0000001', 'Infinity',
  '-Infinity', 'NaN', 'true', 'null', '1.2.3', 'v1.2.3', '1.2.3-rc.1', '2.0.0', '1.10.0', 'mobile', 'desktop',
  'a,b', '1,2', '[object Object]', '12px', '.5', '5.', '-0', '1_000'];
const TYPES = ['string', 'number', 'boolean', 'null', 'array', 'object', 'undefined'];
const PATTERNS = ['^a', 'b$', '[0-9]+', 'x|y', '^1\\.', '.*', '^$', 'A', '^[a-c]+$', '\\d'];

function scalar() {
  switch (Math.floor(random() * 5)) {
    case 0: return pick(NUMBERS);
    case 1: case 2: return pick(STRINGS);
    case 3: return chance(0.5);
    default: return null;
  }
}

function sorted(obj) {
  return Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
}

function value(depth = 0) {
  const r = random();
  if (depth < 2 && r < 0.15) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
  if (depth < 2 && r < 0.22) {
    const o = {};
    for (let i = Math.floor(random() * 3); i > 0; i--) o[pick(['x', 'y', 'z', '0'])] = value(depth + 1);
    return sorted(o);
  }
  return scalar();
}

function attributes() {
  const o = {};
  for (const k of KEYS) if (chance(0.7)) o[k] = value();
  if (chance(0.6)) o.tags = Array.from({ length: Math.floor(random() * 4) }, () => scalar());
  if (chance(0.5)) o.v = pick(['1.2.3', '1.10.0', 'v2.0.0', '2.0.0-beta', 1.2, '', null, '1.2.3-rc.1+build']);
  return sorted(o);
}

// An argument of the expected shape most of the time, of another shape sometimes.
function arg(kind, depth) {
  const odd = chance(0.2);
  switch (kind) {
    case 'list': return odd ? value() : Array.from({ length: Math.floor(random() * 4) }, () => scalar());
    case 'regex': return odd ? value() : pick(PATTERNS);
    case 'type': return odd ? value() : pick(TYPES);
    case 'version': return odd ? value() : pick(['1.2.3', '1.10.0', '2.0.0', 'v1.2.3', '1.2.3-rc.1', '0', '']);
    case 'test': return odd ? value() : fieldTest(depth + 1);
    case 'cond': return odd ? pick([value(), 'ab', '', [], [condition(depth + 1)], 5, {}]) : condition(depth + 1);
    default: return value();
  }
}

const OPERATORS = {
  $eq: 'value', $ne: 'value', $lt: 'value', $lte: 'value', $gt: 'value', $gte: 'value',
  $exists: 'value', $in: 'list', $nin: 'list', $ini: 'list', $nini: 'list', $all: 'list', $alli: 'list',
  $size: 'test', $not: 'test', $elemMatch: 'cond', $regex: 'regex', $regexi: 'regex', $type: 'type',
  $veq: 'version', $vne: 'version', $vgt: 'version', $vgte: 'version', $vlt: 'version', $vlte: 'version',
  $bogus: 'value',
};

function fieldTest(depth) {
  if (depth > 3 || chance(0.35)) return value(1);
  const ops = {};
  for (let i = 1 + Math.floor(random() * 2); i > 0; i--) {
    const op = pick(Object.keys(OPERATORS));
    ops[op] = arg(OPERATORS[op], depth);
  }
  return sorted(ops);
}

function condition(depth = 0) {
  const c = {};
  for (let i = 1 + Math.floor(random() * 2); i > 0; i--) {
    const r = random();
    if (depth < 3 && r < 0.25) {
      const op = pick(['$and', '$or', '$nor', '$not']);
      c[op] = op === '$not'
        ? arg('cond', depth)
        : (chance(0.8) ? Array.from({ length: Math.floor(random() * 3) }, () => condition(depth + 1)) : pick(['ab', '', 5, {}, [1], ['x'], true]));
    } else {
      const path = pick([...KEYS, 'tags.0', 'tags.1', 'tags.length', 'o.x', 'o.0', 'missing', 's.length', 'a.b']);
      c[path] = fieldTest(depth);
    }
  }
  return sorted(c);
}

function answer(c, attrs) {
  try {
    return evalCondition(attrs, c, {});
  } catch {
    return undefined; // GrowthBook throws on a few shapes (null where it iterates): left out
  }
}

if (process.argv.includes('--write')) {
  const cases = [];
  while (cases.length < CASES) {
    const c = condition();
    const attrs = attributes();
    const expected = answer(c, attrs);
    if (expected === undefined) continue;
    cases.push({ condition: c, attributes: attrs, expected });
  }
  writeFileSync(file, JSON.stringify(cases) + '\n');
  const yes = cases.filter((c) => c.expected).length;
  console.log(`wrote ${cases.length} random cases (${yes} pass, ${cases.length - yes} fail) to ${file.pathname}`);
} else {
  const cases = JSON.parse(readFileSync(file, 'utf8'));
  let failed = 0;
  for (const [i, c] of cases.entries()) {
    const got = answer(c.condition, c.attributes);
    if (got !== c.expected) {
      failed++;
      console.log(`MISMATCH case ${i}: GrowthBook says ${got}, the fixture says ${c.expected}: ${JSON.stringify(c)}`);
    }
  }
  console.log(`${cases.length - failed} of ${cases.length} random cases: GrowthBook agrees with the fixture`);
  process.exit(failed ? 1 : 0);
}
