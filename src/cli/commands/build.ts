import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { resolveConfig } from '../../methods/index.js';
import { BUNDLE_FORMAT, MANIFEST_FILE, readBundle, writeBundle } from '../../bundle/bundle.js';
import { formatBytes, keyConfig, paramCounts, paramLine } from '../../bundle/inspect.js';

interface BuildArgs {
  readonly out: string;
  readonly preset?: string;
  readonly config?: string;
  readonly set?: string[];
}

/**
 * Refuses an --out that holds something other than a bundle: writeBundle replaces the directory,
 * which is what rebuilding a bundle should do, but must not wipe a run directory or a source tree.
 */
function checkOut(out: string): void {
  const dir = resolve(out);
  if (!existsSync(dir)) return;
  if (!statSync(dir).isDirectory()) throw new Error(`--out ${out}: exists and is not a directory; allowed: a new directory or an existing bundle to replace`);
  if (readdirSync(dir).length === 0) return;
  let format: unknown;
  try {
    format = (JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')) as { format?: unknown }).format;
  } catch {
    format = undefined;
  }
  if (format !== BUNDLE_FORMAT) {
    throw new Error(`--out ${out}: the directory is not empty and is not a multisiam bundle (no ${MANIFEST_FILE} of format '${BUNDLE_FORMAT}'), so build will not replace it; allowed: a new or empty directory, or an existing bundle`);
  }
}

export const buildCommand: CommandModule<object, BuildArgs> = {
  command: 'build',
  describe: 'Build a training bundle: manifest, train_step/grad/target_forward/backbone ONNX graphs, initial params',
  builder: (y) =>
    y
      .option('preset', { type: 'string', describe: 'tiny | r18 | r50' })
      .option('config', { type: 'string', describe: 'YAML or JSON config file (may name a preset with `preset:`)' })
      .option('set', { type: 'string', array: true, describe: 'Override a config field, e.g. --set kmeans.k=8 (repeatable)' })
      .option('out', { type: 'string', demandOption: true, describe: 'Bundle directory to write (an existing bundle there is replaced)' })
      .example('$0 build --preset tiny --out tiny', '')
      .example('$0 build --preset r50 --set alignment=roi --set kmeans.k=8 --out r50-roi', '')
      .example('$0 build --config run.yaml --out run', ''),
  handler: (args) => {
    if (!args.preset && !args.config) throw new Error('choose a configuration: --preset tiny|r18|r50 or --config FILE (with optional --set key=value)');
    // Everything that can be refused is checked before anything is written.
    const cfg = resolveConfig({
      ...(args.preset ? { preset: args.preset } : {}),
      ...(args.config ? { configFile: args.config } : {}),
      sets: args.set ?? [],
      onWarning: (m) => console.error(`multisiam: warning: ${m}`),
    });
    checkOut(args.out);
    const report = writeBundle(cfg, args.out);
    const manifest = readBundle(report.dir).manifest;
    const config = keyConfig(cfg);
    console.log(`built a ${manifest.method} bundle in ${(report.buildMs / 1000).toFixed(1)} s → ${report.dir}`);
    console.log(`  ${config.backbone}; ${config.views}`);
    const width = Math.max(...report.files.map((f) => f.file.length));
    for (const f of report.files) console.log(`  ${f.file.padEnd(width)}  ${formatBytes(f.bytes).padStart(10)}`);
    console.log(`  ${'total'.padEnd(width)}  ${formatBytes(report.files.reduce((s, f) => s + f.bytes, 0)).padStart(10)}`);
    console.log(`  parameters: ${paramLine(paramCounts(manifest))}`);
    console.log(`  details (FLOPs, inputs and outputs): multisiam inspect ${args.out}`);
  },
};
