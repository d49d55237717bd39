/**
 * MoCo-based MultiSiam with RoI alignment (supplement B.2, SPEC §2.7 and §2.9): the intersection
 * box is resampled from the backbone maps, the online dense projector carries the self-attention
 * G(i,j) = Σ sim(R(i,j), R(i',j'))·g(R(i',j')), the target projector is plain, and the dense term is
 * per-pixel InfoNCE (τ = `moco.temperature`) with K-means centroids of G' as positives and a queue
 * of pooled, normalised target dense projections as negatives. The global term is MoCo-v2 InfoNCE
 * on the pooled projections with its own queue. No predictors. The supplement's eq. (9) prints the
 * ratio without −log; we implement the standard −log form.
 */
import type { MultiSiamConfig } from '../../config/index.js';
import type { Graph, Value } from '../../onnx/ir.js';
import { add } from '../../onnx/ops/Add.js';
import { reduceMean } from '../../onnx/ops/ReduceMean.js';
import { reshape } from '../../onnx/ops/Reshape.js';
import { flipBack, roiAlign } from '../alignment.js';
import { attend } from '../attention.js';
import { encode, perView, projectDense } from '../encoder.js';
import { type AlignmentInputs, type ViewIndex, VIEWS, declareAlignment, declareDenseTargets, declareDenseWeight, declareGlobalTargets, declareQueues, declareViews, other } from '../inputs.js';
import { cellsAsRows, infoNce, weightedPairMean } from '../losses.js';
import { type LossTerms, type Method, denseTargetForward, weightedLoss } from './method.js';

/** The backbone map of view v, flipped back and resampled to S×S on the RoI: R (online) or R' (target). */
function alignedFeatures(features: Value, flipped: Value, v: ViewIndex, alignment: AlignmentInputs): Value {
  if (alignment.kind !== 'roi') throw new Error("framework 'moco' needs alignment 'roi' (supplement B.2); the config validation should have refused this");
  return roiAlign(flipBack(features, flipped), alignment.positions[v], alignment.size);
}

export const moco: Method = {
  onlineOnly: [],

  online(g: Graph, cfg: MultiSiamConfig): LossTerms {
    const views = declareViews(g, cfg);
    const alignment = declareAlignment(g, cfg);
    const denseWeight = declareDenseWeight(g, cfg);
    const keys = declareGlobalTargets(g, cfg);
    const positives = declareDenseTargets(g, cfg);
    const queues = declareQueues(g, cfg);
    const tau = cfg.moco.temperature;
    const b = cfg.train.batch_size;
    const online = perView(g, (v) => {
      const { features, z } = encode(views[v].image, cfg);
      const r = alignedFeatures(features, views[v].flipped, v, alignment);
      return { z, dense: attend(r, projectDense(r, cfg), cfg.attention) };
    });
    const globalTerms = VIEWS.map((v) => reduceMean(infoNce(online[v].z, keys[other(v)], queues.global, tau)));
    const denseTerms = VIEWS.map((v) => {
      const perCell = infoNce(cellsAsRows(online[v].dense), cellsAsRows(positives[other(v)]), queues.dense, tau);
      return weightedPairMean(reduceMean(reshape(perCell, [b, -1]), [1]), denseWeight);
    });
    return weightedLoss(cfg, add(globalTerms[0]!, globalTerms[1]!), add(denseTerms[0]!, denseTerms[1]!));
  },

  target(g: Graph, cfg: MultiSiamConfig): Record<string, Value> {
    return denseTargetForward(g, cfg, (features, flipped, v, alignment) => projectDense(alignedFeatures(features, flipped, v, alignment), cfg));
  },
};
