/**
 * No module outside src/methods/ knows a method by name (issue 10): a new method is one file plus
 * one registry line, and the trainer, the bundle builder, inspect, the config rules and the CLI only
 * go through the Method interface.
 *
 * The check parses every TypeScript file under src/ outside src/methods/ (TypeScript's own parser, so
 * comments and docs are not code) and looks at each string literal equal to a registered method's
 * name. Such a literal is a use of the method by name, and fails, when it is
 * - compared (===, !==, ==, !=) or a `case` label, unless the other side is a `framework` value;
 * - the value of a `method` property, or an argument of `methodNamed`;
 * - anywhere else, unless it is (a) the program's own name (package.json `name`, which is also the
 *   MultiSiam method's: the command, ONNX producer, environment and author strings), or (b) one of
 *   the shared `framework` field's values ('byol', 'moco') in a statement about the framework — the
 *   frameworks are a shared field, not a method.
 * It also fails on an import of a method module (src/methods/<name>.js) from outside src/methods/:
 * only the registry (index.js) and the interface (method.js) are public.
 * The rule is shown to catch what it should on small samples first.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FRAMEWORKS } from '../../src/config/schema.js';
import { METHOD_NAMES } from '../../src/methods/index.js';
import { ROOT } from '../graphs/torch.js';

const PROGRAM = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string }).name;
const METHODS_DIR = join(ROOT, 'src', 'methods');

interface Finding {
  readonly file: string;
  readonly line: number;
  readonly text: string;
  readonly why: string;
}

const EQUALITY = new Set([ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken]);

const isFramework = (name: string): boolean => (FRAMEWORKS as readonly string[]).includes(name);
const mentionsFramework = (node: ts.Node, file: ts.SourceFile): boolean => /framework/i.test(node.getText(file));

/** The statement (or class member) a node sits in, for "is this statement about the framework?". */
function statementOf(node: ts.Node): ts.Node {
  let n = node;
  while (n.parent && !ts.isSourceFile(n.parent) && !ts.isBlock(n.parent) && !ts.isClassDeclaration(n.parent)) n = n.parent;
  return n;
}

/** Why the literal `name` at `node` is a use of a method by name, or null when it is allowed. */
function misuse(node: ts.StringLiteralLike, file: ts.SourceFile): string | null {
  const name = node.text;
  const parent = node.parent;
  if (ts.isBinaryExpression(parent) && EQUALITY.has(parent.operatorToken.kind)) {
    const other = parent.left === node ? parent.right : parent.left;
    return isFramework(name) && mentionsFramework(other, file) ? null : `compared with ${other.getText(file)}`;
  }
  if (ts.isCaseClause(parent)) {
    const subject = parent.parent.parent.expression;
    return isFramework(name) && mentionsFramework(subject, file) ? null : `case label of switch (${subject.getText(file)})`;
  }
  if (ts.isPropertyAssignment(parent) && parent.initializer === node) {
    const key = parent.name.getText(file).replace(/['"]/g, '');
    if (key === 'method') return 'value of a `method` property';
    if (key === 'framework') return isFramework(name) ? null : 'a method name given as the framework';
  }
  if (ts.isCallExpression(parent) && parent.expression.getText(file).endsWith('methodNamed')) return 'argument of methodNamed';
  if (name === PROGRAM) return null;
  if (isFramework(name) && mentionsFramework(statementOf(node), file)) return null;
  return 'hard-coded method name';
}

/** Every use of a method by name in one file's source text. */
function findings(path: string, source: string, methods: readonly string[]): Finding[] {
  const file = ts.createSourceFile(path, source, ts.ScriptTarget.ES2022, true);
  const out: Finding[] = [];
  const report = (node: ts.Node, why: string): void => {
    out.push({ file: path, line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1, text: statementOf(node).getText(file).split('\n')[0]!, why });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) && methods.includes(node.text)) {
      const why = misuse(node, file);
      if (why) report(node, why);
    }
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const target = resolve(join(path, '..'), node.moduleSpecifier.text);
      const module = relative(METHODS_DIR, target);
      if (!module.startsWith('..') && !module.includes(sep) && methods.includes(module.replace(/\.js$/, ''))) report(node, `imports the method module ${node.moduleSpecifier.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return path === METHODS_DIR ? [] : sourceFiles(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

test('the rule catches methods used by name and allows the program name and framework values', () => {
  const sample = (code: string) => findings(join(ROOT, 'src', 'train', 'sample.ts'), code, ['multisiam', 'byol', 'pixpro']).map((f) => f.why);
  assert.equal(sample("if (cfg.method === 'byol') x();"), ['compared with cfg.method']);
  assert.equal(sample("const same = 'pixpro' !== m.name;"), ['compared with m.name']);
  assert.equal(sample("switch (cfg.method) { case 'multisiam': break; }"), ['case label of switch (cfg.method)']);
  assert.equal(sample("run({ method: 'pixpro', steps: 1 });"), ['value of a `method` property']);
  assert.equal(sample("const m = methodNamed('byol');"), ['argument of methodNamed']);
  assert.equal(sample("const DENSE = ['pixpro', 'other'];"), ['hard-coded method name']);
  assert.equal(sample("const bad = { framework: 'pixpro' };"), ['a method name given as the framework']);
  assert.equal(sample("import { pixpro } from '../methods/pixpro.js';"), ['imports the method module ../methods/pixpro.js']);
  assert.equal(sample("if (cfg.framework === 'byol') x(); const c = { framework: 'byol' };"), []);
  assert.equal(sample("export const FRAMEWORKS = ['byol', 'moco'] as const;"), []);
  assert.equal(sample("yargs.scriptName('multisiam'); // cfg.method === 'byol' in a comment"), []);
  assert.equal(sample("import { methodFor } from '../methods/index.js';"), []);
});

test('no module outside src/methods/ uses a registered method by name', () => {
  const files = sourceFiles(join(ROOT, 'src'));
  assert.ok(files.length > 50, `found ${files.length} source files under src/`);
  const found = files.flatMap((f) => findings(f, readFileSync(f, 'utf8'), METHOD_NAMES));
  const lines = found.map((f) => `${relative(ROOT, f.file)}:${f.line}: ${f.why}: ${f.text}`);
  assert.equal(lines, [], `method names outside src/methods/:\n${lines.join('\n')}`);
});

test.run();
