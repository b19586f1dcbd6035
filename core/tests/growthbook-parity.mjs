// Checks Cortex's targeting and bucketing fixtures against GrowthBook's own JavaScript SDK.
// The Rust spec tests check Cortex against the same fixtures, so when both pass, Cortex and
// GrowthBook agree on every case. Run: node core/tests/growthbook-parity.mjs
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { evalCondition, GrowthBook } = require('@growthbook/growthbook');
const here = new URL('./fixtures/', import.meta.url);
const load = (f) => JSON.parse(readFileSync(new URL(f, here), 'utf8'));

// GrowthBook logs unknown operators with console.error; that is expected for those cases.
console.error = () => {};

let failed = 0;
let checked = 0;
const fail = (what) => { failed++; console.log(`MISMATCH ${what}`); };

for (const c of load('conditions.json')) {
  checked++;
  const got = evalCondition(c.attributes, c.condition, c.savedGroups ?? {});
  if (got !== c.expected) fail(`condition "${c.name}": GrowthBook says ${got}, fixture says ${c.expected}`);
}

const b = load('bucketing.json');
for (const h of b.hash) {
  checked++;
  const gb = new GrowthBook({ attributes: { id: h.value } });
  const r = gb.run({ key: 'k', seed: h.seed, hashVersion: h.version, variations: [0, 1] });
  if (r.bucket !== h.bucket) fail(`hash ${JSON.stringify(h)}: GrowthBook bucket ${r.bucket}`);
}
for (const a of b.assignments) {
  checked++;
  const gb = new GrowthBook({ attributes: { id: a.unit } });
  const r = gb.run({
    key: a.seed, seed: a.seed, hashVersion: a.version, variations: a.weights.map((_, i) => i),
    weights: a.weights, coverage: a.coverage,
  });
  const got = r.inExperiment ? r.variationId : null;
  if (got !== a.variant) fail(`assignment ${JSON.stringify(a)}: GrowthBook variant ${got}`);
}

// A namespace slice: GrowthBook runs the experiment only for units inside it.
for (const n of b.namespaces) {
  checked++;
  const gb = new GrowthBook({ attributes: { id: n.unit } });
  const r = gb.run({ key: 'ns-test', namespace: n.namespace, variations: [0, 1] });
  if (n.unit !== '' && r.inExperiment !== n.inNamespace) {
    fail(`namespace ${JSON.stringify(n)}: GrowthBook says inExperiment ${r.inExperiment}`);
  }
}

console.log(`${checked - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
