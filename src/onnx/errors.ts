/**
 * One error class per kind of failure, so callers and tests can tell them apart. Messages follow
 * `<Op> '<node>': <what is wrong> (<values>)` and end with the input shapes where they matter.
 */

/** A shape or dtype rule failed while building a graph. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

/** The graph is malformed: unknown value, duplicate name, mixing graphs, bad output. */
export class GraphError extends Error {
  override name = 'GraphError';
}

/** Reverse-mode differentiation cannot proceed (missing rule, not-implemented input, bad cotangent). */
export class GradError extends Error {
  override name = 'GradError';
}

/** An ONNX file could not be read or written. */
export class OnnxFormatError extends Error {
  override name = 'OnnxFormatError';
}
