/**
 * The BYOL baseline (Grill et al. 2020): the global loss only, 2 − 2·cos(p, sg(z')) in both
 * directions, on the same encoder and heads as MultiSiam, so the two compare like for like.
 */
import type { MultiSiamConfig } from '../../config/index.js';
import { scalar } from '../../onnx/constant.js';
import type { Graph, Value } from '../../onnx/ir.js';
import { add } from '../../onnx/ops/Add.js';
import { VIEWS, declareGlobalTargets, declareViews, other } from '../inputs.js';
import { encode, headSizes, perView } from '../encoder.js';
import { mlp } from '../heads.js';
import { byolLoss } from '../losses.js';
import { type LossTerms, type Method, weightedLoss } from './method.js';

export const byol: Method = {
  onlineOnly: ['predictor.'],

  online(g: Graph, cfg: MultiSiamConfig): LossTerms {
    const views = declareViews(g, cfg);
    const zTargets = declareGlobalTargets(g, cfg);
    const p = perView(g, (v) => {
      const { z } = encode(views[v].image, cfg);
      return g.scope('predictor', () => mlp(z, headSizes(cfg).predictor, true));
    });
    const terms = VIEWS.map((v) => byolLoss(p[v], zTargets[other(v)]));
    const lossGlobal = add(terms[0]!, terms[1]!);
    return weightedLoss(cfg, lossGlobal, scalar(g, 0));
  },

  target(g: Graph, cfg: MultiSiamConfig): Record<string, Value> {
    const views = declareViews(g, cfg);
    const z = perView(g, (v) => encode(views[v].image, cfg).z);
    return { z1: z[1], z2: z[2] };
  },
};
