import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { OPS, opForType } from '../../src/onnx/registry.js';

const opsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'onnx', 'ops');

test('each op is registered exactly once', () => {
  const names = OPS.map((o) => o.name);
  assert.equal(names.filter((n, i) => names.indexOf(n) !== i), []);
});

test('the barrel lists every op file exactly once, and every op file defines one op', () => {
  const files = readdirSync(opsDir).filter((f) => f.endsWith('.js') && f !== 'index.js').map((f) => f.replace(/\.js$/, ''));
  const barrel = readFileSync(join(opsDir, 'index.js'), 'utf8');
  const listed = [...barrel.matchAll(/from '\.\/(\w+)\.js'/g)].map((m) => m[1]!);
  assert.equal([...listed].sort(), [...files].sort());
  assert.equal(new Set(listed).size, listed.length);
  assert.equal(OPS.map((o) => o.name).sort(), [...files].sort(), 'each file is named after the op it defines');
});

test('every input of every op declares a gradient rule, and differentiable inputs have a VJP', () => {
  for (const op of OPS) {
    for (const input of op.inputNames) {
      const rule = op.gradRule(input);
      const valid = rule === 'differentiable' || rule === 'nondifferentiable' || (typeof rule === 'object' && rule.notImplemented.length > 0);
      assert.ok(valid, `${op.name}.${input}: invalid gradient rule ${JSON.stringify(rule)}`);
      if (rule === 'differentiable') assert.ok(op.hasVjp, `${op.name}.${input} is differentiable but ${op.name} has no VJP`);
    }
  }
});

test('the ONNX reader finds an op by type, and StopGradient reads back as Identity', () => {
  assert.is(opForType('Conv').name, 'Conv');
  assert.is(opForType('Identity').name, 'Identity');
  assert.throws(() => opForType('FancyOp'), /no op definition for ONNX op 'FancyOp'/);
});

test.run();
