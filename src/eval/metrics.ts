/**
 * Segmentation scores from a confusion matrix, as mmseg and the Cityscapes scripts compute them:
 * IoU_k = TP / (TP + FP + FN) for each class k, mIoU the mean over classes that occur in the labels
 * or the predictions (a class absent from both has no IoU and no vote), pixel accuracy the share
 * of labelled pixels whose predicted class is right.
 */

export class Confusion {
  /** counts[label · K + predicted]. */
  readonly counts: Float64Array;

  constructor(readonly classes: number) {
    this.counts = new Float64Array(classes * classes);
  }

  /**
   * Adds one image: `logits` (K, P) for P pixels, class-major as the probe graph writes them, and
   * its P labels. The prediction is the first class with the largest logit.
   */
  add(logits: Float32Array, labels: Uint8Array): void {
    const k = this.classes;
    const p = labels.length;
    if (logits.length !== k * p) throw new RangeError(`confusion: ${logits.length} logits for ${p} pixels of ${k} classes`);
    for (let i = 0; i < p; i++) {
      let best = 0;
      let top = logits[i]!;
      for (let c = 1; c < k; c++) {
        const v = logits[c * p + i]!;
        if (v > top) {
          top = v;
          best = c;
        }
      }
      this.counts[labels[i]! * k + best]!++;
    }
  }

  /** IoU per class, null where the class occurs in neither labels nor predictions. */
  iou(): (number | null)[] {
    const k = this.classes;
    return Array.from({ length: k }, (_, c) => {
      let labelled = 0;
      let predicted = 0;
      for (let j = 0; j < k; j++) {
        labelled += this.counts[c * k + j]!;
        predicted += this.counts[j * k + c]!;
      }
      const tp = this.counts[c * k + c]!;
      const union = labelled + predicted - tp;
      return union > 0 ? tp / union : null;
    });
  }

  miou(): number {
    const scored = this.iou().filter((v): v is number => v !== null);
    return scored.length > 0 ? scored.reduce((a, b) => a + b, 0) / scored.length : 0;
  }

  pixelAccuracy(): number {
    let right = 0;
    let total = 0;
    for (let c = 0; c < this.classes; c++) {
      right += this.counts[c * this.classes + c]!;
      for (let j = 0; j < this.classes; j++) total += this.counts[c * this.classes + j]!;
    }
    return total > 0 ? right / total : 0;
  }

  /** Labelled pixels per class. */
  support(): number[] {
    const k = this.classes;
    return Array.from({ length: k }, (_, c) => this.counts.subarray(c * k, (c + 1) * k).reduce((a, b) => a + b, 0));
  }
}
