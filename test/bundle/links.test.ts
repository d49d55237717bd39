/**
 * Every method's target links pair views the way its graphs read them: the train-step input that
 * supervises online view v (its manifest meaning says so) is made from the target network's output
 * for the other view. A link from the wrong view still trains (each view then predicts its own
 * target), so nothing else would catch it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildBundleGraphs } from '../../src/bundle/graphs.js';
import { METHODS, resolveConfig } from '../../src/methods/index.js';

/** The view a target-forward output belongs to: its trailing digit (`z2`, `dense1`, `pooled2`, `features1`). */
function outputView(name: string): number {
  const m = /(\d)$/.exec(name);
  if (!m) throw new Error(`target output '${name}' names no view`);
  return Number(m[1]);
}

test('each train-step target comes from the view its meaning names', () => {
  const checked: string[] = [];
  for (const method of METHODS) {
    const cfg = resolveConfig({ preset: 'tiny', sets: [`method=${method.name}`, 'train.batch_size=4'], onWarning: () => undefined });
    const { trainStep } = buildBundleGraphs(cfg);
    for (const link of method.targets(cfg)) {
      const meaning = trainStep.inputNamed(link.input)?.meaning;
      assert.ok(meaning, `${method.name}: train-step input '${link.input}' has no meaning`);
      const from = Number(meaning!['from_view'] ?? meaning!['view']);
      assert.is(outputView(link.output), from, `${method.name}: '${link.input}' (${JSON.stringify(meaning)}) is made from '${link.output}'`);
      if (meaning!['supervises_view'] !== undefined) assert.is.not(Number(meaning!['supervises_view']), from, `${method.name}: '${link.input}' supervises the view it comes from`);
      checked.push(`${method.name}:${link.input}←${link.output}`);
    }
  }
  assert.ok(checked.length >= 12, checked.join(' '));
});

test.run();
