/**
 * MultiSiam on BYOL (SPEC §2): global BYOL loss plus the dense 2D loss between the online
 * self-attention prediction Q and the aligned target map, against its K-means centroids
 * (`dense_target: kmeans`) or the map itself ("MultiSiam w/o K-means", supplement B.1).
 * Alignment is `offset` (ΔC appended to the predictor input, cell (i, j) of one view against cell
 * (i, j) of the other) or `roi` (both maps resampled to S×S on the intersection box).
 */
import type { MultiSiamConfig } from '../../config/index.js';
import type { Graph, Value } from '../../onnx/ir.js';
import { add } from '../../onnx/ops/Add.js';
import { neg } from '../../onnx/ops/Neg.js';
import { type AlignmentInputs, type ViewIndex, VIEWS, declareAlignment, declareDenseTargets, declareDenseWeight, declareGlobalTargets, declareViews, other } from '../inputs.js';
import { attend } from '../attention.js';
import { flipBack, roiAlign, withOffsets } from '../alignment.js';
import { encode, headSizes, perView, projectDense } from '../encoder.js';
import { mlp, mlp2d } from '../heads.js';
import { byolLoss, clusterConsistency, featureConsistency, weightedPairMean } from '../losses.js';
import { type LossTerms, type Method, denseTargetForward, weightedLoss } from './method.js';

/** The projected dense map of a view, flipped back and aligned: R (online) or R' (target). */
function alignedDense(features: Value, flipped: Value, v: ViewIndex, alignment: AlignmentInputs, cfg: MultiSiamConfig): Value {
  const dense = flipBack(projectDense(features, cfg), flipped);
  return alignment.kind === 'roi' ? roiAlign(dense, alignment.positions[v], alignment.size) : dense;
}

/** ΔC for view v as the online view: the input map is view 1's; view 2 sees its negation. */
function offsetsFor(v: ViewIndex, offset12: Value): Value {
  return v === 1 ? offset12 : neg(offset12);
}

export const multisiam: Method = {
  onlineOnly: ['predictor.', 'dense_predictor.'],

  online(g: Graph, cfg: MultiSiamConfig): LossTerms {
    const views = declareViews(g, cfg);
    const alignment = declareAlignment(g, cfg);
    const denseWeight = declareDenseWeight(g, cfg);
    const zTargets = declareGlobalTargets(g, cfg);
    const denseTargets = declareDenseTargets(g, cfg);
    const sizes = headSizes(cfg);
    const consistency = cfg.dense_target === 'kmeans' ? clusterConsistency : featureConsistency;

    const online = perView(g, (v) => {
      const { features, z } = encode(views[v].image, cfg);
      const p = g.scope('predictor', () => mlp(z, sizes.predictor, true));
      const r = alignedDense(features, views[v].flipped, v, alignment, cfg);
      const x = alignment.kind === 'offset' ? withOffsets(r, offsetsFor(v, alignment.offset12)) : r;
      const q = attend(r, g.scope('dense_predictor', () => mlp2d(x, sizes.densePredictor, true)), cfg.attention);
      return { p, q };
    });
    const globalTerms = VIEWS.map((v) => byolLoss(online[v].p, zTargets[other(v)]));
    const denseTerms = VIEWS.map((v) => weightedPairMean(consistency(online[v].q, denseTargets[other(v)]), denseWeight));
    return weightedLoss(cfg, add(globalTerms[0]!, globalTerms[1]!), add(denseTerms[0]!, denseTerms[1]!));
  },

  target(g: Graph, cfg: MultiSiamConfig): Record<string, Value> {
    return denseTargetForward(g, cfg, (features, flipped, v, alignment) => alignedDense(features, flipped, v, alignment, cfg));
  },
};
