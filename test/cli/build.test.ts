/**
 * `multisiam build`: writes a readable bundle and a summary; repeated --set all apply; every invalid
 * configuration (bad value, unknown preset or key, malformed file, broken cross-field rule) and an
 * --out that is not a bundle stop with exit status 1 and a message naming the field or value and
 * what is allowed, before anything is written: an existing bundle at --out stays byte-for-byte as it
 * was, and no temporary directory is left behind.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GRAPH_FILES, MANIFEST_FILE, PARAMS_FILE, readBundle } from '../../src/bundle/bundle.js';
import { ROOT } from '../graphs/torch.js';

const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const scratch = mkdtempSync(join(tmpdir(), 'multisiam-build-'));
test.after(() => rmSync(scratch, { recursive: true, force: true }));

/** The environment without the colour variables (NO_COLOR beside FORCE_COLOR makes Node warn on stderr). */
const ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NO_COLOR' && k !== 'FORCE_COLOR'));

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 300_000, env: ENV });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every file of a directory with its size, mtime and content hash. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    const s = statSync(p);
    out[f] = `${s.size} ${s.mtimeMs} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  }
  return out;
}

const bundleDir = join(scratch, 'bundle');

test('build --preset tiny writes a bundle and prints files, sizes, build time and parameter counts', () => {
  const r = cli(['build', '--preset', 'tiny', '--out', bundleDir]);
  assert.is(r.status, 0, r.stderr);
  const bundle = readBundle(bundleDir);
  assert.is(bundle.manifest.method, 'multisiam');
  assert.is(bundle.manifest.config.backbone.arch, 'resnet18');
  for (const f of [...Object.values(GRAPH_FILES), MANIFEST_FILE, PARAMS_FILE]) {
    assert.ok(existsSync(join(bundleDir, f)), `${f} written`);
    assert.match(r.stdout, new RegExp(`\\n  ${f.replace('.', '\\.')}\\s+[\\d.]+ (B|KiB|MiB|GiB)\\n`), `${f} listed with its size`);
  }
  assert.match(r.stdout, /^built a multisiam bundle in \d+\.\d s → /);
  assert.match(r.stdout, /\n  total\s+[\d.]+ MiB\n/);
  assert.match(r.stdout, /parameters: online 1\.23 M \(backbone 702\.1 k, projector 132\.7 k, predictor 132\.7 k, dense_projector 132\.7 k, dense_predictor 133\.8 k\); target 967\.6 k; optimizer state 1\.23 M/);
  assert.match(r.stdout, /\n  gradient forms: cpu \(runtime\.device_policy 'auto' without a provider; /);
  assert.is(bundle.manifest.device_policy, 'cpu');
  assert.is(r.stderr, '');
  assert.equal(readdirSync(scratch).filter((f) => f.includes('.tmp-')), [], 'no temporary directory left');
});

test('runtime.device_policy=gpu builds the GPU gradient forms and says so in the manifest', () => {
  const out = join(scratch, 'gpu');
  const r = cli(['build', '--preset', 'tiny', '--set', 'runtime.device_policy=gpu', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /\n  gradient forms: gpu\n/);
  assert.is(readBundle(out).manifest.device_policy, 'gpu');
  // Every Conv's input gradient becomes a ConvTranspose; the CPU forms keep most as im2col products.
  const convTransposes = (dir: string): number => readFileSync(join(dir, GRAPH_FILES.grad), 'latin1').split('ConvTranspose').length - 1;
  assert.ok(convTransposes(out) > 2 * convTransposes(bundleDir), `${convTransposes(out)} ConvTranspose nodes (gpu) vs ${convTransposes(bundleDir)} (cpu)`);
});

test('--set is repeatable and every override reaches the bundle; a config file may name the preset', () => {
  const out = join(scratch, 'roi');
  const r = cli(['build', '--preset', 'tiny', '--set', 'alignment=roi', '--set', 'kmeans.k=8', '--set', 'train.batch_size=4', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  const m = readBundle(out).manifest;
  assert.is(m.config.alignment, 'roi');
  assert.is(m.config.kmeans.k, 8);
  assert.is(m.config.train.batch_size, 4);
  assert.equal(m.graphs.train_step.inputs.find((i) => i.name === 'roi_pos1')?.shape, [4, 49, 2]);

  const yaml = join(scratch, 'run.yaml');
  writeFileSync(yaml, 'preset: tiny\nmethod: byol\ntrain:\n  batch_size: 2\n');
  const fromFile = join(scratch, 'from-file');
  const f = cli(['build', '--config', yaml, '--set', 'heads.proj_dim=64', '--out', fromFile]);
  assert.is(f.status, 0, f.stderr);
  const mf = readBundle(fromFile).manifest;
  assert.is(mf.method, 'byol');
  assert.is(mf.config.train.batch_size, 2);
  assert.is(mf.config.heads.proj_dim, 64);
  assert.match(f.stdout, /^built a byol bundle/);
});

const badYaml = join(scratch, 'bad.yaml');
const badValues = join(scratch, 'values.yaml');
writeFileSync(badYaml, 'preset: tiny\nkmeans:\n  k: [4\n  iters: 3\n');
writeFileSync(badValues, 'preset: tiny\nattention:\n  sim: dot\nkmeans:\n  k: -1\n');

const INVALID: readonly { what: string; args: string[]; message: RegExp }[] = [
  { what: '--set kmeans.k=0', args: ['--preset', 'tiny', '--set', 'kmeans.k=0'], message: /config field 'kmeans\.k': 0 is out of range; allowed: integer ≥ 1 \(from --set kmeans\.k=0\)/ },
  { what: 'an unknown preset', args: ['--preset', 'huge'], message: /unknown preset 'huge' \(from --preset\);.* allowed: 'tiny', 'r18', 'r50'/ },
  { what: 'a misspelt preset', args: ['--preset', 'tinyy'], message: /unknown preset 'tinyy' \(from --preset\); did you mean 'tiny'\?/ },
  { what: 'a malformed YAML file', args: ['--config', badYaml], message: /config file '.*bad\.yaml': invalid YAML at line \d+, column \d+/ },
  { what: 'a YAML file with two bad values', args: ['--config', badValues], message: /config field 'attention\.sim': 'dot' is not one of the choices; allowed: one of 'cos-pow', 'softmax' \(in file '.*values\.yaml'\)\nconfig field 'kmeans\.k': -1 is out of range; allowed: integer ≥ 1/ },
  { what: 'a missing config file', args: ['--config', join(scratch, 'nope.yaml')], message: /config file '.*nope\.yaml' cannot be read/ },
  { what: 'an unknown key', args: ['--preset', 'tiny', '--set', 'kmeans.kk=3'], message: /config key 'kmeans\.kk' is unknown \(from --set kmeans\.kk=3\); did you mean 'kmeans\.k'\? allowed in 'kmeans': k, iters/ },
  { what: 'a --set without =', args: ['--preset', 'tiny', '--set', 'kmeans.k'], message: /--set 'kmeans\.k' is not of the form key=value/ },
  { what: 'a broken cross-field rule', args: ['--preset', 'tiny', '--set', 'framework=moco'], message: /config fields 'framework', 'alignment': framework 'moco' with alignment 'offset' is not defined.*allowed: alignment 'roi'/ },
  { what: 'no configuration', args: [], message: /choose a configuration: --preset tiny\|r18\|r50 or --config FILE/ },
];

for (const c of INVALID) {
  test(`${c.what}: exit 1 naming the problem; the existing bundle at --out is untouched`, () => {
    const before = snapshot(bundleDir);
    const r = cli(['build', ...c.args, '--out', bundleDir]);
    assert.is(r.status, 1, `exit status (stdout: ${r.stdout})`);
    assert.match(r.stderr, /^multisiam: /);
    assert.match(r.stderr, c.message);
    assert.is(r.stdout, '', 'no summary printed');
    assert.equal(snapshot(bundleDir), before, 'bundle unchanged');
    assert.equal(readdirSync(scratch).filter((f) => f.includes('.tmp-')), [], 'no temporary directory left');
    const fresh = join(scratch, 'never');
    assert.is(cli(['build', ...c.args, '--out', fresh]).status, 1);
    assert.not.ok(existsSync(fresh), 'nothing created at a new --out');
  });
}

test('an --out that is a non-empty directory but not a bundle is refused and left alone', () => {
  const dir = join(scratch, 'precious');
  mkdirSync(dir);
  writeFileSync(join(dir, 'notes.txt'), 'do not delete');
  const before = snapshot(dir);
  const r = cli(['build', '--preset', 'tiny', '--out', dir]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /--out .*precious: the directory is not empty and is not a multisiam bundle .*allowed: a new or empty directory, or an existing bundle/);
  assert.equal(snapshot(dir), before);
  const file = join(scratch, 'a-file');
  writeFileSync(file, 'x');
  assert.match(cli(['build', '--preset', 'tiny', '--out', file]).stderr, /--out \S+a-file is a file; allowed: a directory/);
  assert.is(readFileSync(file, 'utf8'), 'x');
});

test('building over an existing bundle replaces it', () => {
  const before = readBundle(bundleDir).manifest;
  const r = cli(['build', '--preset', 'tiny', '--set', 'method=byol', '--out', bundleDir]);
  assert.is(r.status, 0, r.stderr);
  const after = readBundle(bundleDir).manifest;
  assert.is(before.method, 'multisiam');
  assert.is(after.method, 'byol');
  assert.equal(readdirSync(bundleDir).sort(), [...Object.values(GRAPH_FILES), MANIFEST_FILE, PARAMS_FILE].sort());
});

test('a field the configuration ignores is a warning on stderr, not an error', () => {
  const out = join(scratch, 'warned');
  const r = cli(['build', '--preset', 'tiny', '--set', 'moco.queue_size=64', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /multisiam: warning: config field 'moco\.queue_size' is ignored: it is read only when framework is 'moco'/);
});

test.run();
