import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OPS } from '../../src/onnx/registry.js';
import { OP_CASES } from './cases.js';
import { type CaseResult, checkCase } from './gradcheck.js';

const results: CaseResult[] = [];

for (const c of OP_CASES) {
  if (c.skip) {
    test.skip(`${c.op}: ${c.name} (${c.skip.reason})`, () => undefined);
    continue;
  }
  test(`${c.op}: ${c.name}`, async () => {
    const r = await checkCase(c);
    results.push(r);
    const tol = c.tol ?? 5e-3;
    for (const [input, err] of Object.entries(r.errors)) {
      assert.ok(err <= tol, `${r.case}: gradient of '${input}' off by ${err.toExponential(2)} (tolerance ${tol})`);
    }
  });
}

test('every differentiable op has at least two gradient cases', () => {
  const counts = new Map<string, number>();
  for (const c of OP_CASES) counts.set(c.op, (counts.get(c.op) ?? 0) + 1);
  const differentiable = OPS.filter((o) => o.inputNames.some((n) => o.gradRule(n) === 'differentiable'));
  const thin = differentiable.filter((o) => (counts.get(o.name) ?? 0) < 2).map((o) => `${o.name} (${counts.get(o.name) ?? 0})`);
  assert.equal(thin, [], `ops with fewer than two cases: ${thin.join(', ')}`);
});

test.after(() => {
  // The table quoted in the closing note: max normalised gradient error per op.
  const byOp = new Map<string, number>();
  for (const r of results) {
    const name = r.case.split(':')[0]!;
    byOp.set(name, Math.max(byOp.get(name) ?? 0, r.maxError));
  }
  const rows = [...byOp.entries()].sort(([a], [b]) => a.localeCompare(b));
  console.log(`\n  max relative gradient error per op (float32, central differences):\n${rows.map(([n, e]) => `    ${n.padEnd(18)} ${e.toExponential(2)}`).join('\n')}`);
});

test.run();
