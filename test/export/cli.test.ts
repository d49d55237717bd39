/**
 * `multisiam export` end to end on a tiny bundle (`multisiam build --preset tiny`) and a run made
 * from it with two checkpoints (steps 2 and 4, each with its own online and target values): all
 * three formats write and print what they wrote and how to load it; --run takes the latest
 * checkpoint, --step and --network pick theirs (checked by value and by num_batches_tracked); every
 * bad flag, missing run or step and wrong extension fails with status 1 and a message naming it,
 * leaving nothing behind.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { type TensorMap, readSafetensors, writeSafetensors } from '../../src/bundle/safetensors.js';
import { decodeModel } from '../../src/onnx/proto.js';
import { saveCheckpoint } from '../../src/train/checkpoint.js';
import { CLI, type CliResult, ENV, cli as runCli } from '../cli/process.js';
import { scratch } from './helpers.js';

/** An export finishes in seconds; two minutes is a hang. */
const cli = (args: string[]): Promise<CliResult> => runCli(args, 120_000);

const dir = scratch('cli');
const bundle = join(dir, 'bundle');
const run = join(dir, 'run');
const out = join(dir, 'out');
/** The value every tensor of a network holds at a step: online and target differ, and so do the steps. */
const marker = (network: string, step: number): number => (network === 'online' ? 1 : -1) * (step + 0.25);

/** The bundle's tensors with every backbone value replaced by its network's marker (online: bare names, target: `target.`). */
function marked(tensors: TensorMap, step: number): TensorMap {
  const copy: TensorMap = new Map();
  for (const [k, t] of tensors) {
    const backbone = /^(target\.)?(conv1|bn1|layer\d)\./.exec(k);
    copy.set(k, backbone ? { dtype: 'F32', shape: t.shape, data: new Float32Array(t.data.length).fill(marker(backbone[1] ? 'target' : 'online', step)) } : t);
  }
  return copy;
}

test.before(() => {
  const r = spawnSync(process.execPath, [CLI, 'build', '--preset', 'tiny', '--out', bundle], { encoding: 'utf8', env: ENV, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stderr}`);
  const tensors = readSafetensors(join(bundle, 'params.safetensors')).tensors;
  // The bundle's target network differs from its online one, so --network is visible in the values.
  writeSafetensors(join(bundle, 'params.safetensors'), marked(tensors, 0));
  cpSync(bundle, join(run, 'bundle'), { recursive: true });
  for (const step of [2, 4]) saveCheckpoint(run, step, marked(tensors, step), { config_hash: 'feedfacecafebeef' }, { keep: 5 });
  mkdirSync(out);
});

/** The single value every float tensor of an exported safetensors file holds, and its num_batches_tracked values. */
function exported(path: string): { values: number[]; counters: bigint[]; count: number } {
  const tensors = readSafetensors(path).tensors;
  const values = new Set<number>();
  const counters = new Set<bigint>();
  for (const t of tensors.values()) {
    if (t.dtype === 'F32') t.data.forEach((v) => values.add(v));
    if (t.dtype === 'I64') t.data.forEach((v) => counters.add(v));
  }
  return { values: [...values], counters: [...counters], count: tensors.size };
}

test('--bundle to ONNX, --run to torchvision .safetensors and .pth, and to detectron2: each writes and prints path, size, tensors, network, step and a recipe', async () => {
  const [onnx, latest, pth, pkl] = await Promise.all([
    cli(['export', '--bundle', bundle, '--format', 'onnx', '--out', join(out, 'tiny.onnx')]),
    cli(['export', '--run', run, '--format', 'torchvision', '--out', join(out, 'latest.safetensors')]),
    cli(['export', '--run', run, '--format', 'torchvision', '--out', join(out, 'latest.pth')]),
    cli(['export', '--run', run, '--format', 'detectron2', '--out', join(out, 'latest.pkl')]),
  ]);
  for (const r of [onnx, latest, pth, pkl]) assert.is(r.status, 0, r.stderr);
  assert.match(onnx.stdout, new RegExp(`^wrote ${join(out, 'tiny.onnx')} \\([\\d.]+ (KiB|MiB)\\): 100 tensors of the online resnet18 backbone, step 0 of bundle ${bundle}\\n`));
  assert.match(onnx.stdout, /load it:\n  import numpy as np, onnxruntime as ort\n/);
  const model = decodeModel(readFileSync(join(out, 'tiny.onnx')));
  assert.equal(model.graph.input.map((i) => i.name), ['image']);
  assert.equal(model.metadataProps?.find((p) => p.key === 'source.network')?.value, 'online');

  assert.match(latest.stdout, /: 120 tensors of the online resnet18 backbone, step 4 of run /);
  assert.match(latest.stdout, /m\.load_state_dict\(sd, strict=True\)/);
  assert.match(latest.stdout, /\nnote: width 0\.25: /, 'the tiny preset needs RefResNet, and says so');
  assert.equal(exported(join(out, 'latest.safetensors')), { values: [marker('online', 4)], counters: [4n], count: 120 });
  assert.equal([...readFileSync(join(out, 'latest.pth')).subarray(0, 4)], [0x50, 0x4b, 0x03, 0x04], '.pth is a zip');
  assert.match(pkl.stdout, /PIXEL_MEAN: \[123\.675, 116\.280, 103\.530\]/);
  assert.match(pkl.stdout, /\nnote: R18 at width 0\.25/);
  assert.equal(readdirSync(out).sort(), ['latest.pkl', 'latest.pth', 'latest.safetensors', 'tiny.onnx'], 'no temporary files left');
});

test('--step and --network pick the checkpoint and the network', async () => {
  const [target2, bundleTarget] = await Promise.all([
    cli(['export', '--run', run, '--step', '2', '--network', 'target', '--format', 'torchvision', '--out', join(out, 'target2.safetensors')]),
    cli(['export', '--bundle', bundle, '--network', 'target', '--format', 'torchvision', '--out', join(out, 'bundle-target.safetensors')]),
  ]);
  assert.is(target2.status, 0, target2.stderr);
  assert.match(target2.stdout, /tensors of the target resnet18 backbone, step 2 of run /);
  assert.equal(exported(join(out, 'target2.safetensors')), { values: [marker('target', 2)], counters: [2n], count: 120 });
  assert.is(bundleTarget.status, 0, bundleTarget.stderr);
  assert.equal(exported(join(out, 'bundle-target.safetensors')), { values: [marker('target', 0)], counters: [0n], count: 120 });
});

test('bad flags, a missing run or step and wrong extensions fail with a message naming them, and write nothing', async () => {
  const empty = join(dir, 'no-checkpoints');
  cpSync(bundle, join(empty, 'bundle'), { recursive: true });
  const cases: [string[], RegExp][] = [
    [['--run', run, '--step', '3', '--format', 'onnx', '--out', join(out, 'x.onnx')], /--step 3: run .* has no checkpoint at step 3; its checkpoints are at step 2, 4/],
    [['--bundle', bundle, '--step', '2', '--format', 'onnx', '--out', join(out, 'x.onnx')], /--step picks a checkpoint of a run: use it with --run RUN/],
    [['--run', run, '--bundle', bundle, '--format', 'onnx', '--out', join(out, 'x.onnx')], /choose what to export: --run RUN .* or --bundle DIR .*, not both/],
    [['--format', 'onnx', '--out', join(out, 'x.onnx')], /choose what to export/],
    [['--run', join(dir, 'missing'), '--format', 'onnx', '--out', join(out, 'x.onnx')], /--run .*missing: no such directory; pass the --out of a `multisiam train` run/],
    [['--run', empty, '--format', 'onnx', '--out', join(out, 'x.onnx')], /--run .*no-checkpoints: .* holds no complete checkpoint; .* or export the initial weights with --bundle .*no-checkpoints\/bundle/],
    [['--bundle', join(dir, 'nobundle'), '--format', 'onnx', '--out', join(out, 'x.onnx')], /--bundle .*nobundle: .*manifest\.json is missing/],
    [['--bundle', bundle, '--format', 'torchvision', '--out', join(out, 'x.pt')], /--out .*x\.pt: the file name must end in \.pth or \.safetensors/],
    [['--bundle', bundle, '--format', 'detectron2', '--out', join(out, 'x.pth')], /--out .*x\.pth: the file name must end in \.pkl/],
    [['--bundle', bundle, '--format', 'onnx', '--out', join(out, 'x.pkl')], /--out .*x\.pkl: the file name must end in \.onnx/],
    [['--bundle', bundle, '--format', 'onnx', '--out', out + '.onnx', '--network', 'middle'], /network.*middle.*online, target|Invalid values/s],
    [['--bundle', bundle, '--format', 'keras', '--out', join(out, 'x.h5')], /format.*keras/s],
  ];
  const before = readdirSync(out).sort();
  const results = await Promise.all(cases.map(([args]) => cli(['export', ...args])));
  results.forEach((r, i) => {
    assert.is(r.status, 1, `export ${cases[i]![0].join(' ')} should fail`);
    assert.match(r.stderr, cases[i]![1]);
  });
  assert.equal(readdirSync(out).sort(), before, 'nothing written');
  assert.not.ok(existsSync(out + '.onnx'));
});

test.run();
