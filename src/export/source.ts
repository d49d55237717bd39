/**
 * Where `multisiam export` reads the backbone: a run's checkpoint (`--run RUN [--step N]`, the
 * latest complete one by default) or a bundle's initial tensors (`--bundle DIR`). The configuration
 * comes from the bundle manifest (RUN/bundle/manifest.json for a run). Every error names the flag
 * and says what to do; nothing is written.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PARAMS_FILE, readBundle, readBundleTensors } from '../bundle/bundle.js';
import { configHash } from '../methods/index.js';
import { checkpointsRoot, listCheckpoints, loadCheckpoint } from '../train/checkpoint.js';
import { type Backbone, type Network, multisiamVersion, selectBackbone } from './backbone.js';

export interface SourceOptions {
  readonly run?: string;
  readonly step?: number;
  readonly bundle?: string;
  readonly network: Network;
}

export function loadBackbone(o: SourceOptions): Backbone {
  if ((o.run === undefined) === (o.bundle === undefined)) throw new Error('choose what to export: --run RUN (a training run, optionally --step N) or --bundle DIR (a bundle\'s initial weights), not both');
  if (o.step !== undefined && o.run === undefined) throw new Error('--step picks a checkpoint of a run: use it with --run RUN, not with --bundle');
  if (o.step !== undefined && !(Number.isInteger(o.step) && o.step >= 0)) throw new Error(`--step ${o.step}: must be a non-negative integer (a checkpoint's step)`);
  return o.run !== undefined ? fromRun(o.run, o.step, o.network) : fromBundle(o.bundle!, o.network);
}

function fromBundle(dir: string, network: Network): Backbone {
  const bundle = flagged('--bundle', dir, () => readBundle(dir));
  const cfg = bundle.manifest.config;
  const provenance = { source: 'bundle', dir, step: 0, method: bundle.manifest.method, network, configHash: configHash(cfg), version: multisiamVersion() } as const;
  return selectBackbone(cfg, readBundleTensors(bundle), provenance, join(dir, PARAMS_FILE));
}

function fromRun(run: string, step: number | undefined, network: Network): Backbone {
  if (!existsSync(run)) throw new Error(`--run ${run}: no such directory; pass the --out of a \`multisiam train\` run`);
  const bundle = flagged('--run', run, () => readBundle(join(run, 'bundle')));
  const found = listCheckpoints(run);
  if (found.length === 0) {
    throw new Error(`--run ${run}: ${checkpointsRoot(run)} holds no complete checkpoint; train longer (or stop with Ctrl-C, which writes one), or export the initial weights with --bundle ${join(run, 'bundle')}`);
  }
  const chosen = step === undefined ? found.at(-1)! : found.find((c) => c.step === step);
  if (!chosen) throw new Error(`--step ${step}: run ${run} has no checkpoint at step ${step}; its checkpoints are at step ${found.map((c) => c.step).join(', ')}`);
  const checkpoint = loadCheckpoint(chosen.dir);
  const cfg = bundle.manifest.config;
  const recorded = checkpoint.state['config_hash'];
  const provenance = {
    source: 'run',
    dir: run,
    step: checkpoint.step,
    method: bundle.manifest.method,
    network,
    configHash: typeof recorded === 'string' ? recorded : configHash(cfg),
    version: multisiamVersion(),
  } as const;
  // A checkpoint stores its tensors under the bundle's file name, in the bundle's layout.
  return selectBackbone(cfg, checkpoint.tensors, provenance, join(chosen.dir, PARAMS_FILE));
}

/** Runs `read`, prefixing its error with the flag and value that led to it. */
function flagged<T>(flag: string, value: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    throw new Error(`${flag} ${value}: ${(e as Error).message}`);
  }
}
