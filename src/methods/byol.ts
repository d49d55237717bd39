/**
 * The BYOL baseline (Grill et al., NeurIPS 2020, arXiv 2006.07733): the global loss only,
 * 2 − 2·cos(p, sg(z')) in both directions, on the same encoder and heads as MultiSiam, so the two
 * compare like for like. Every crop pair counts (no IoU gate).
 */
import type { MultiSiamConfig } from '../config/schema.js';
import { encode, headSizes, perView } from '../graphs/encoder.js';
import { mlp } from '../graphs/heads.js';
import { NAMES, VIEWS, declareGlobalTargets, declareViews, other } from '../graphs/io.js';
import { byolLoss } from '../graphs/losses.js';
import type { Graph, Value } from '../onnx/ir.js';
import { add } from '../onnx/ops/Add.js';
import { ANY_PAIR, type LossTerms, defineMethod, weighted } from './method.js';

function online(g: Graph, cfg: MultiSiamConfig): LossTerms {
  const views = declareViews(g, cfg);
  const zTargets = declareGlobalTargets(g, cfg);
  const p = perView(g, (v) => {
    const { z } = encode(views[v].image, cfg);
    return g.scope('predictor', () => mlp(z, headSizes(cfg).predictor, true));
  });
  const [a, b] = VIEWS.map((v) => byolLoss(p[v], zTargets[v]));
  const global = add(a!, b!);
  return { total: weighted([[global, cfg.loss.w_global]]), terms: { global } };
}

function target(g: Graph, cfg: MultiSiamConfig): Record<string, Value> {
  const views = declareViews(g, cfg);
  const z = g.scope('target', () => perView(g, (v) => encode(views[v].image, cfg).z));
  return { z1: z[1], z2: z[2] };
}

export const byol = defineMethod({
  name: 'byol',
  title: 'BYOL (Grill et al., NeurIPS 2020): the global loss only, on the same encoder and heads',
  kind: 'baseline',
  frameworks: ['byol'],
  fields: [],
  reads: [],
  defaults: {},
  rules: [
    {
      doc: "method 'byol' trains its global loss only, so loss.w_global > 0",
      check: (c) =>
        c.loss.w_global > 0 ? null : { fields: ['loss.w_global', 'method'], problem: "w_global is 0 and method 'byol' has no other loss", allowed: "w_global > 0 when method is 'byol'" },
    },
  ],
  online,
  target,
  targets: () => VIEWS.map((v) => ({ input: NAMES.targetZ(v), output: `z${other(v)}`, transform: { kind: 'copy' } })),
  onlineOnly: () => ['predictor.'],
  momentum: (cfg) => ({ kind: 'cosine', base: cfg.ema.base_momentum }),
  pairs: () => ANY_PAIR,
  describe: (cfg) => ({
    method: 'byol (BYOL baseline, global loss only)',
    heads: `projector ${cfg.heads.proj_hidden}→${cfg.heads.proj_dim}, predictor ${cfg.heads.pred_hidden}→${cfg.heads.proj_dim}`,
    target: `EMA, base momentum ${cfg.ema.base_momentum} → 1 (cosine)`,
  }),
});
