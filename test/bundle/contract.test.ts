/**
 * docs/bundle.md is the contract that lets a caller outside this code drive a bundle. These tests
 * build a bundle for every method and variant (in-process, no ONNX Runtime session) and check that
 * (a) every name, meaning kind, meaning field, role, init kind, target transform and loss term a
 * manifest holds is mentioned in the doc, so adding an input without documenting it fails here, and
 * (b) the structural promises the doc makes (one naming scheme, `next.<name>` for every state
 * tensor, links between the graphs) hold in every manifest.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type Manifest, type ManifestValue, readBundle, writeBundle } from '../../src/bundle/bundle.js';
import { resolveConfig } from '../../src/methods/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const DOC = readFileSync(join(root, 'docs', 'bundle.md'), 'utf8');

/** Every input kind appears in at least one of these (the doc's table in §4.4 has one row each). */
const VARIANTS: readonly (readonly string[])[] = [
  [],
  ['alignment=roi'],
  ['framework=moco', 'alignment=roi'],
  ['dense_target=features'],
  ['kmeans.backend=ts'],
  ['method=byol'],
  ['method=mocov2'],
  ['method=densecl'],
  ['method=pixpro'],
  ['method=pixpro', 'loss.w_global=1'],
];

interface Built {
  readonly label: string;
  readonly manifest: Manifest;
}

/** Writes each variant's bundle (batch 2: names and roles do not depend on the batch) and reads its manifest back as a caller would. */
function buildAll(): Built[] {
  const dir = mkdtempSync(join(tmpdir(), 'multisiam-contract-'));
  try {
    return VARIANTS.map((sets, i) => {
      const cfg = resolveConfig({ preset: 'tiny', sets: [...sets, 'train.batch_size=2'], onWarning: () => undefined });
      const out = join(dir, `b${i}`);
      writeBundle(cfg, out);
      return { label: sets.join(' ') || 'default', manifest: readBundle(out).manifest };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BUILT = buildAll();
const STEP_GRAPHS = ['train_step', 'grad', 'target_forward'] as const;

function allValues(m: Manifest, side: 'inputs' | 'outputs'): ManifestValue[] {
  return Object.values(m.graphs).flatMap((g) => g[side]);
}

/**
 * Whether the doc mentions `token` as code: in backticks (possibly followed by `: …` or `= …` inside
 * them), or as a JSON string, as the manifest excerpt in §2 writes field names and values.
 */
function documented(token: string): boolean {
  const escaped = token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp('`' + escaped + '[`: =]|"' + escaped + '"').test(DOC);
}

/** Collects `token → where it was seen` and fails listing every token the doc does not mention. */
function expectDocumented(what: string, seen: Map<string, string>): void {
  const missing = [...seen].filter(([token]) => !documented(token)).map(([token, where]) => `${token} (${where})`);
  assert.equal(missing, [], `docs/bundle.md does not mention these ${what}: ${missing.join(', ')}`);
}

function note(seen: Map<string, string>, token: string, where: string): void {
  if (!seen.has(token)) seen.set(token, where);
}

test('docs/bundle.md names every data and hyper input, meaning kind and meaning field', () => {
  const names = new Map<string, string>();
  const kinds = new Map<string, string>();
  const fields = new Map<string, string>();
  for (const { label, manifest } of BUILT) {
    for (const i of allValues(manifest, 'inputs')) {
      if (i.role !== 'data' && i.role !== 'hyper') continue;
      note(names, i.name, label);
      if (!i.meaning) continue;
      note(kinds, String(i.meaning['kind']), `${label}: ${i.name}`);
      for (const key of Object.keys(i.meaning)) note(fields, key, `${label}: ${i.name}`);
    }
  }
  assert.ok(kinds.size >= 12, `expected every meaning kind to occur, got ${[...kinds.keys()].join(', ')}`);
  expectDocumented('input names', names);
  expectDocumented('meaning kinds', kinds);
  expectDocumented('meaning fields', fields);
});

test('docs/bundle.md names every role, init kind, target transform, loss term, metric and target-forward output', () => {
  const seen = new Map<string, string>();
  for (const { label, manifest } of BUILT) {
    for (const v of [...allValues(manifest, 'inputs'), ...allValues(manifest, 'outputs')]) note(seen, v.role, `${label}: role of ${v.name}`);
    for (const t of manifest.tensors) {
      note(seen, t.role, `${label}: tensor ${t.name}`);
      note(seen, t.init.kind, `${label}: init of ${t.name}`);
      if (t.group) note(seen, t.group, `${label}: group of ${t.name}`);
    }
    for (const link of manifest.targets) {
      note(seen, link.transform.kind, `${label}: link ${link.input}`);
      if (link.transform.kind === 'kmeans') note(seen, link.transform.backend, `${label}: K-means backend of ${link.input}`);
      note(seen, link.output, `${label}: target_forward output of link ${link.input}`);
    }
    for (const term of manifest.loss_terms) note(seen, term, `${label}: loss term`);
    for (const o of manifest.graphs.train_step.outputs) if (o.role === 'metric' && !o.name.startsWith('loss_')) note(seen, o.name, `${label}: metric`);
    for (const key of Object.keys(manifest)) note(seen, key, `${label}: manifest field`);
    note(seen, manifest.format, `${label}: format`);
  }
  expectDocumented('manifest terms', seen);
});

test('one naming scheme: bare online names, target., momentum., queues; no online. prefix', () => {
  for (const { label, manifest } of BUILT) {
    const names = new Set(manifest.tensors.map((t) => t.name));
    for (const t of manifest.tensors) {
      assert.not.ok(t.name.startsWith('online.'), `${label}: tensor '${t.name}' has an online. prefix, which docs/bundle.md §3 says does not exist`);
      if (t.role === 'target') {
        assert.ok(t.name.startsWith('target.') && names.has(t.name.slice('target.'.length)), `${label}: target tensor '${t.name}' is not target.<online name>`);
        assert.equal(t.init, { kind: 'copy', of: t.name.slice('target.'.length) }, `${label}: '${t.name}' init`);
      }
      if (t.role === 'state') assert.ok(t.name.startsWith('momentum.') && names.has(t.name.slice('momentum.'.length)), `${label}: state tensor '${t.name}' is not momentum.<param>`);
      if (t.role === 'queue') assert.ok(t.name === 'queue_global' || t.name === 'queue_dense', `${label}: queue '${t.name}' is not one the doc names`);
      if (t.role === 'param' || t.role === 'buffer') assert.not.ok(/^(target|momentum|next|grad)\./.test(t.name), `${label}: online tensor '${t.name}' carries a reserved prefix`);
    }
  }
});

test('train_step has next.<name> for exactly the state tensors, same role and shape; state inputs in manifest order', () => {
  for (const { label, manifest } of BUILT) {
    const ts = manifest.graphs.train_step;
    const inputs = new Map(ts.inputs.map((i) => [i.name, i]));
    const next = ts.outputs.filter((o) => o.name.startsWith('next.'));
    assert.equal(next.map((o) => o.name.slice('next.'.length)).sort(), manifest.tensors.map((t) => t.name).sort(), `${label}: next.* outputs vs tensors`);
    for (const o of next) {
      const input = inputs.get(o.name.slice('next.'.length))!;
      assert.is(o.role, input.role, `${label}: role of ${o.name}`);
      assert.equal(o.shape, input.shape, `${label}: shape of ${o.name}`);
    }
    const stateInputs = ts.inputs.filter((i) => ['param', 'buffer', 'state', 'target', 'queue'].includes(i.role)).map((i) => i.name);
    assert.equal(stateInputs, manifest.tensors.map((t) => t.name), `${label}: tensors are in train_step input order`);
    const metrics = ts.outputs.filter((o) => o.role === 'metric').map((o) => o.name);
    for (const name of ['loss', 'grad_norm', 'finite', ...manifest.loss_terms.map((t) => `loss_${t}`)]) assert.ok(metrics.includes(name), `${label}: metric ${name}`);
    assert.equal(ts.inputs.filter((i) => i.role === 'hyper').map((i) => i.name).sort(), ['lr', 'target_momentum', 'weight_decay'], `${label}: hyper inputs`);
  }
});

test('target links join target_forward outputs to train_step data inputs as the doc says', () => {
  for (const { label, manifest } of BUILT) {
    const tf = manifest.graphs.target_forward;
    const tfOutputs = new Set(tf.outputs.map((o) => o.name));
    const tfInputs = new Set(tf.inputs.map((i) => i.name));
    const tsData = new Map(manifest.graphs.train_step.inputs.filter((i) => i.role === 'data').map((i) => [i.name, i]));
    for (const link of manifest.targets) {
      assert.ok(tsData.has(link.input), `${label}: link input '${link.input}' is not a train_step data input`);
      assert.ok(tfOutputs.has(link.output), `${label}: link output '${link.output}' is not a target_forward output`);
      const inGraph = link.transform.kind === 'kmeans' && link.transform.backend === 'graph';
      assert.is(link.output === link.input, inGraph, `${label}: only in-graph K-means links output the train-step name ('${link.input}' ← '${link.output}')`);
      assert.is(tfInputs.has(`${link.input}.kmeans_u`), inGraph, `${label}: '${link.input}.kmeans_u' exactly for in-graph K-means`);
    }
    // Every target_forward input is state (target.*) or data the batch or the K-means seeds provide.
    for (const i of tf.inputs) {
      assert.ok(i.role === 'target' ? i.name.startsWith('target.') : i.role === 'data', `${label}: target_forward input '${i.name}' (${i.role})`);
      if (i.role === 'data' && i.meaning?.['kind'] !== 'kmeans_uniforms') assert.ok(tsData.has(i.name), `${label}: target_forward data '${i.name}' is not also a train_step input`);
    }
  }
});

test('every data input of the step graphs carries a meaning; targets supervise the other view', () => {
  for (const { label, manifest } of BUILT) {
    for (const key of STEP_GRAPHS) {
      for (const i of manifest.graphs[key].inputs.filter((v) => v.role === 'data')) {
        assert.ok(i.meaning?.['kind'], `${label}: ${key} input '${i.name}' has no meaning`);
        const sup = i.meaning!['supervises_view'];
        if (sup !== undefined) assert.is.not(Number(sup), Number(i.meaning!['from_view']), `${label}: '${i.name}' supervises its own view`);
      }
    }
    // backbone.onnx's image is the one data input without a meaning (docs/bundle.md §4.3).
    assert.equal(manifest.graphs.backbone.inputs.filter((i) => i.role === 'data').map((i) => [i.name, i.dtype]), [['image', 'float32']], `${label}: backbone data inputs`);
  }
});

test.run();
