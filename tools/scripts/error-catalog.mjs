// Writes docs/errors.md, the catalog of every error code cpy reports, from the code itself.
//
//   node tools/scripts/error-catalog.mjs            writes docs/errors.md (npm run docs:errors)
//   node tools/scripts/error-catalog.mjs --check    exits 1 when docs/errors.md is not what it would write
//   node tools/scripts/error-catalog.mjs --stdout   prints the catalog instead of writing it
//   node tools/scripts/error-catalog.mjs --json     prints what the scan found (codes, sites, environment variables)
//   --root <dir>                                     scans another tree laid out like this one (tests)
//
// What is scanned: the production TypeScript of every library and app (libs/*/src, apps/*/src; no
// __tests__, *.spec.ts, *.d.ts), their shell scripts (*.sh there, such as the Feature's
// install.sh) and the Python scripts the installers run (libs/*/python, *.py). Test files and
// tools/ are not scanned: their CPY_ strings are fixtures.
//
// How codes are found, and why this way: a code is any TypeScript string literal whose whole text
// is CPY_[A-Z0-9_]+, read with the TypeScript parser (so comments, and codes named in the prose of
// a longer message, are never taken for one). Looking only at `new CpyError('CPY_...'` would miss
// most of the ways a code reaches an error: a branch of `kind === 'a' ? 'CPY_A' : 'CPY_B'`, an
// argument of a helper (`fail('CPY_X', message, hint)`), `super(...)` in a subclass, a lookup
// table, a `{ code: 'CPY_X', message, hint }` object the CLI renders itself. Following each of
// those is fragile; all of them end in such a literal, so every literal counts unless its place
// says it is something else:
//   - an environment variable: a literal used as a key of an environment object (`env['CPY_HOME']`,
//     also through a constant, `env[MIRRORS_ENV]`), and any other literal with that same text;
//   - a comparison (`error.code === 'CPY_X'`, `case 'CPY_X':`, an element of an array of codes,
//     `isCpyError(error, 'CPY_X')`) refers to a code, it does not report it; a code that is only ever compared against stops the
//     scan (nothing throws it).
// A code computed from pieces (`CPY_${area}_FAILED`, 'CPY_' + x) stops the scan too: no catalog
// could list it, so codes are always written out whole.
// In shell scripts a code is a word CPY_[A-Z0-9_]+ outside comments that is not a parameter
// expansion ($CPY_X, ${CPY_X:-}) or an assignment's name: `fail CODE "message" 'hint'` (message and
// hint are read from it), `sig_code=CODE sig_message="..."` (reported later by `fail "$sig_code"
// ...`); a word in a `case` pattern is a comparison. In Python, a whole string literal 'CPY_X'
// outside comments, unless it is read from os.environ or os.getenv.
//
// What a code means: its sites' message and hint, with run-time values shown as {name}
// (`cannot read {path}: {message}`); a helper's arguments are bound to its parameters, string
// constants are looked up (in the file, or exported by another), and a conditional code takes the
// matching branch of a conditional message or hint. The libraries' sites say it; the apps' only
// for a code no library reports, and the Feature's install.sh (which mirrors the library) or a
// Python script only for a code nothing else reports. Where those sites do not say one thing
// (several messages, or text built at run time), the common meaning and/or what to do are written
// by hand in tools/scripts/error-codes.json, keyed by code: the scan stops and says which are
// needed. An entry there for a code nothing throws stops it too. That file may also list, under
// `environment`, CPY_ names that are environment variables read some other way.
//
// The codes are a closed catalog: ERROR_CODES in libs/core/src/codes.ts lists every one, under a
// library or app that reports it, and CpyError's code is typed as that union, so TypeScript
// refuses an uncatalogued code. The scan stops when a code reported anywhere (TypeScript, shell or
// Python) is not listed there, when a listed code is reported nowhere, and when a code is listed
// under a library or app that does not report it. codes.ts itself is not scanned.
//
// tools/checks/test/error-catalog.spec.ts fails when a thrown code is missing from docs/errors.md,
// when docs/errors.md lists a code nothing throws, or when docs/errors.md is not what this writes.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const HERE = dirname(fileURLToPath(import.meta.url));
const CODE_TEXT = /^CPY_[A-Z0-9_]+$/;
const CODE_WORD = /CPY_[A-Z0-9_]+/g;
const OUTPUT = 'docs/errors.md';
const DATA = 'tools/scripts/error-codes.json';
const CLOSED = 'libs/core/src/codes.ts';

class CatalogError extends Error {}

// --- files -----------------------------------------------------------------------------------

/** Production sources under libs/<p>/{src,python} and apps/<p>/src, with the project each belongs to. */
function sourceFiles(root) {
  const out = [];
  for (const group of ['libs', 'apps']) {
    const base = join(root, group);
    if (!existsSync(base)) continue;
    for (const dir of readdirSync(base).sort()) {
      const project = projectOf(join(base, dir), dir, group);
      for (const folder of ['src', 'python']) {
        if (!existsSync(join(base, dir, folder))) continue;
        for (const file of walk(join(base, dir, folder))) {
          const rel = relative(root, file);
          if (/\/(__tests__|tests?)\/|\.(spec|test)\.[cm]?ts$|\.d\.ts$|(^|\/)test_[^/]*\.py$/.test(rel) || rel === CLOSED) continue;
          if (/\.[cm]?ts$/.test(rel)) out.push({ path: rel, abs: file, project, kind: 'ts' });
          else if (rel.endsWith('.sh')) out.push({ path: rel, abs: file, project, kind: 'sh' });
          else if (rel.endsWith('.py')) out.push({ path: rel, abs: file, project, kind: 'py' });
        }
      }
    }
  }
  return out;
}

function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    if (name === 'node_modules' || name === 'dist') continue;
    const full = join(dir, name);
    if (statSync(full).isDirectory()) out.push(...walk(full));
    else out.push(full);
  }
  return out;
}

function projectOf(dir, name, group) {
  let nxName = name;
  try {
    nxName = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).nx?.name ?? name;
  } catch {
    // no package.json: the folder name
  }
  return { name: nxName, group };
}

// --- rendering messages ----------------------------------------------------------------------

const unwrap = (n) => {
  while (n && (ts.isParenthesizedExpression(n) || ts.isAsExpression(n) || ts.isNonNullExpression(n) || ts.isSatisfiesExpression(n))) n = n.expression;
  return n;
};

/** Methods whose result is "the same value, reshaped": `{issuers}` for `failure.issuers.join(', ')`. */
const RESHAPING = new Set(['join', 'map', 'filter', 'slice', 'split', 'trim', 'toString', 'toISOString', 'toFixed', 'toLowerCase', 'toUpperCase', 'replace', 'at', 'flatMap', 'pop', 'shift', 'padStart', 'padEnd']);

/** How a run-time value shows in the catalog: `{path}`, `{message}`, or `{…}`. */
function placeholder(node, scope) {
  node = unwrap(node);
  if (ts.isIdentifier(node)) {
    const bound = scope.bindings.get(node.text);
    if (bound) return bound.arg ? placeholder(bound.arg, bound.scope) : `{${node.text}}`;
    return `{${node.text}}`;
  }
  if (ts.isPropertyAccessExpression(node)) return `{${node.name.text}}`;
  if (ts.isCallExpression(node)) {
    const callee = unwrap(node.expression);
    if (ts.isPropertyAccessExpression(callee) && RESHAPING.has(callee.name.text)) return placeholder(callee.expression, scope);
    if (node.arguments.length > 0) return placeholder(node.arguments[0], scope);
    if (ts.isPropertyAccessExpression(callee)) return `{${callee.name.text}}`;
  }
  return '{…}';
}

/** The text of a string-valued expression with `{value}` for what is known only at run time; null when the whole text is. */
function render(node, scope) {
  node = unwrap(node);
  if (!node) return null;
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) {
    let text = node.head.text;
    for (const span of node.templateSpans) text += inline(span.expression, scope) + span.literal.text;
    return text;
  }
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const left = render(node.left, scope);
    const right = render(node.right, scope);
    return left === null && right === null ? null : (left ?? placeholder(node.left, scope)) + (right ?? placeholder(node.right, scope));
  }
  if (ts.isIdentifier(node)) {
    const bound = scope.bindings.get(node.text);
    if (bound) return bound.arg ? render(bound.arg, bound.scope) : null;
    const constant = lookupConst(node, scope.file);
    if (constant) return render(constant.node, { file: constant.file, bindings: new Map() });
  }
  return null;
}

/** A value inside a template: its text when it is a known string, else a placeholder. */
function inline(node, scope) {
  const inner = unwrap(node);
  if (ts.isConditionalExpression(inner)) return '{…}';
  return render(inner, scope) ?? placeholder(inner, scope);
}

const isStringish = (n) => ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateExpression(n) || (ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.PlusToken);

/**
 * The string `const` an identifier names, looked up lexically from where it is used (a parameter
 * of an enclosing function hides it), then among the constants other files export (when the name
 * is imported and only one file exports it).
 */
function lookupConst(identifier, file) {
  const name = identifier.text;
  for (let n = identifier.parent; n; n = n.parent) {
    if (ts.isFunctionLike(n) && n.parameters?.some((p) => ts.isIdentifier(p.name) && p.name.text === name)) return null;
    for (const statement of n.statements ?? []) {
      if (!ts.isVariableStatement(statement) || !(statement.declarationList.flags & ts.NodeFlags.Const)) continue;
      for (const d of statement.declarationList.declarations) {
        if (ts.isIdentifier(d.name) && d.name.text === name && d.initializer && isStringish(unwrap(d.initializer))) return { node: unwrap(d.initializer), file };
      }
    }
  }
  if (!file.imports.has(name)) return null;
  const exported = file.exportedConstants.get(name);
  return exported && exported !== 'ambiguous' ? exported : null;
}

// --- TypeScript ------------------------------------------------------------------------------

const isCodeLiteral = (n) => (ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n)) && CODE_TEXT.test(n.text);
const lineOf = (sf, node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;

function parseTs(file) {
  const text = readFileSync(file.abs, 'utf8');
  const sf = ts.createSourceFile(file.path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const helpers = new Map();
  const imports = new Set();
  const exports = new Map();
  for (const statement of sf.statements) {
    if (ts.isImportDeclaration(statement) && statement.importClause?.namedBindings && ts.isNamedImports(statement.importClause.namedBindings)) {
      for (const e of statement.importClause.namedBindings.elements) if (!e.propertyName) imports.add(e.name.text);
    }
    if (ts.isVariableStatement(statement) && statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword) && statement.declarationList.flags & ts.NodeFlags.Const) {
      for (const d of statement.declarationList.declarations) if (ts.isIdentifier(d.name) && d.initializer && isStringish(unwrap(d.initializer))) exports.set(d.name.text, unwrap(d.initializer));
    }
  }
  const cpyClasses = new Set(['CpyError']);
  const visitDecls = (node) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.initializer) {
      const init = unwrap(node.initializer);
      if (ts.isArrowFunction(init) || ts.isFunctionExpression(init)) helpers.set(node.name.text, init);
    }
    if (ts.isFunctionDeclaration(node) && node.name) helpers.set(node.name.text, node);
    if (ts.isClassDeclaration(node) && node.name && node.heritageClauses?.some((h) => h.types.some((t) => ts.isIdentifier(t.expression) && t.expression.text === 'CpyError'))) {
      cpyClasses.add(node.name.text);
    }
    ts.forEachChild(node, visitDecls);
  };
  visitDecls(sf);
  return { sf, path: file.path, project: file.project, helpers, cpyClasses, imports, exports, exportedConstants: null, calls: null };
}

/** `new CpyError(code, message, { hint })` (or a subclass, or `super(...)` in one): its three parts. */
function errorConstruction(node, file) {
  const isNew = ts.isNewExpression(node) && ts.isIdentifier(node.expression) && file.cpyClasses.has(node.expression.text);
  const isSuper = ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.SuperKeyword && insideCpyClass(node, file);
  if (!isNew && !isSuper) return null;
  const args = node.arguments ?? [];
  const options = args[2] && unwrap(args[2]);
  return { code: args[0], message: args[1], hint: options && ts.isObjectLiteralExpression(options) ? property(options, 'hint') : undefined };
}

/** The named function a node is in (`function f(...)`, `const f = (...) =>`): its name and parameters. */
function enclosingHelper(node) {
  for (let n = node.parent; n; n = n.parent) {
    if (!ts.isFunctionLike(n)) continue;
    const name = ts.isFunctionDeclaration(n) ? n.name?.text : ts.isVariableDeclaration(n.parent) && ts.isIdentifier(n.parent.name) ? n.parent.name.text : undefined;
    return name ? { name, params: n.parameters.map((p) => (ts.isIdentifier(p.name) ? p.name.text : null)) } : null;
  }
  return null;
}

/** The calls of a function of this file, by name. */
function callsOf(name, file) {
  if (!file.calls) {
    file.calls = new Map();
    const visit = (node) => {
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression)) {
        if (!file.calls.has(node.expression.text)) file.calls.set(node.expression.text, []);
        file.calls.get(node.expression.text).push(node);
      }
      ts.forEachChild(node, visit);
    };
    visit(file.sf);
  }
  return file.calls.get(name) ?? [];
}

function insideCpyClass(node, file) {
  for (let n = node.parent; n; n = n.parent) if (ts.isClassDeclaration(n)) return Boolean(n.name && file.cpyClasses.has(n.name.text) && n.name.text !== 'CpyError');
  return false;
}

/** A property's value (`hint: x`, or the shorthand `hint`). */
function property(object, name) {
  for (const p of object.properties) {
    if (ts.isPropertyAssignment(p) && (ts.isIdentifier(p.name) || ts.isStringLiteral(p.name)) && p.name.text === name) return p.initializer;
    if (ts.isShorthandPropertyAssignment(p) && p.name.text === name) return p.name;
  }
  return undefined;
}

/**
 * A helper whose parameter becomes a CpyError's code (`const fail = (code, message, hint) =>
 * new CpyError(code, message, { hint })`): the construction and the parameter names.
 */
function helperTemplate(fn, file) {
  const params = fn.parameters.map((p) => (ts.isIdentifier(p.name) ? p.name.text : null));
  let found = null;
  const visit = (node) => {
    if (found) return;
    const c = errorConstruction(node, file);
    if (c && c.code && ts.isIdentifier(unwrap(c.code)) && params.includes(unwrap(c.code).text)) found = { ...c, params, codeIndex: params.indexOf(unwrap(c.code).text) };
    else ts.forEachChild(node, visit);
  };
  if (fn.body) visit(fn.body);
  return found;
}

/** The branch a literal sits in, from the outermost conditional: [[condition text, true|false], ...]. */
function climb(literal, sf) {
  const path = [];
  let node = literal;
  for (;;) {
    const parent = node.parent;
    if (ts.isParenthesizedExpression(parent) || ts.isAsExpression(parent) || ts.isSatisfiesExpression(parent)) {
      node = parent;
      continue;
    }
    if (ts.isConditionalExpression(parent) && parent.condition !== node) {
      path.unshift([parent.condition.getText(sf), parent.whenTrue === node]);
      node = parent;
      continue;
    }
    return { top: node, path };
  }
}

/** Picks, from a conditional message or hint, the branch that goes with the code's branch. */
function branch(node, path, sf) {
  let n = unwrap(node);
  for (const [condition, side] of path) {
    if (!n || !ts.isConditionalExpression(n)) break;
    if (n.condition.getText(sf) !== condition) return null;
    n = unwrap(side ? n.whenTrue : n.whenFalse);
  }
  return n && ts.isConditionalExpression(n) ? null : n;
}

function scanTs(file, found) {
  const { sf } = file;
  const emptyScope = { file, bindings: new Map() };
  const visit = (node) => {
    computedCode(node, file);
    if (isCodeLiteral(node)) classify(node, file, emptyScope, found);
    ts.forEachChild(node, visit);
  };
  visit(sf);
  // Literals used as keys of an environment: env['CPY_HOME'], env[MIRRORS_ENV].
  const visitEnv = (node) => {
    if (ts.isElementAccessExpression(node) && /(^|\.)env$/.test(node.expression.getText(sf))) {
      const key = unwrap(node.argumentExpression);
      if (isCodeLiteral(key)) found.environment.set(key.text, `${file.path}:${lineOf(sf, key)}`);
      else if (ts.isIdentifier(key)) found.envConstants.add(key.text);
    }
    ts.forEachChild(node, visitEnv);
  };
  visitEnv(sf);
}

/** `CPY_${x}` or 'CPY_' + x: a code no catalog can list. */
function computedCode(node, file) {
  const where = () => `${file.path}:${lineOf(file.sf, node)}`;
  if (ts.isTemplateExpression(node)) {
    const parts = [node.head, ...node.templateSpans.map((s) => s.literal)];
    for (const part of parts.slice(0, -1)) {
      if (/(^|[^A-Za-z0-9_])CPY_[A-Z0-9_]*$/.test(part.text)) throw new CatalogError(`${where()}: an error code built from pieces (${node.getText(file.sf)}); write each code out whole, so that it can be catalogued`);
    }
  }
  if (ts.isBinaryExpression(node) && node.operatorToken.kind === ts.SyntaxKind.PlusToken) {
    const left = unwrap(node.left);
    if ((ts.isStringLiteral(left) || ts.isNoSubstitutionTemplateLiteral(left)) && /(^|[^A-Za-z0-9_])CPY_[A-Z0-9_]*$/.test(left.text)) {
      throw new CatalogError(`${where()}: an error code built from pieces (${node.getText(file.sf)}); write each code out whole, so that it can be catalogued`);
    }
  }
}

/** The name a call calls: `f` in f(...) and in x.f(...). */
function calleeName(call) {
  const callee = unwrap(call.expression);
  if (ts.isIdentifier(callee)) return callee.text;
  return ts.isPropertyAccessExpression(callee) ? callee.name.text : undefined;
}

function classify(literal, file, scope, found) {
  const { sf } = file;
  const { top, path } = climb(literal, sf);
  const parent = top.parent;
  const at = `${file.path}:${lineOf(sf, literal)}`;
  const record = (kind, message, hint, where = at) => found.occurrences.push({ code: literal.text, kind, file: file.path, at: where, project: file.project, message, hint });

  // A comparison refers to a code; it does not report one.
  if (
    (ts.isBinaryExpression(parent) && [ts.SyntaxKind.EqualsEqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsEqualsToken, ts.SyntaxKind.EqualsEqualsToken, ts.SyntaxKind.ExclamationEqualsToken].includes(parent.operatorToken.kind)) ||
    ts.isCaseClause(parent)
  ) {
    return record('reference');
  }
  if ((ts.isElementAccessExpression(parent) && parent.argumentExpression === top) || ts.isArrayLiteralExpression(parent)) return record('reference');
  // isCpyError(error, 'CPY_X') (@cpy/core) asks whether an error has that code: a comparison too.
  if (ts.isCallExpression(parent) && parent.arguments[1] === top && calleeName(parent) === 'isCpyError') return record('reference');
  // `const NAME = 'CPY_X'`: an environment variable's name when read as env[NAME] (see scan),
  // else a code whose message is given where NAME is used.
  if (ts.isVariableDeclaration(parent) && ts.isIdentifier(parent.name) && path.length === 0) {
    found.constantLiterals.set(parent.name.text, literal.text);
    return record('site', undefined, undefined);
  }

  const text = (message, hint, bindings) => {
    const s = { file, bindings };
    const m = message === undefined ? undefined : branch(message, path, sf);
    const h = hint === undefined ? undefined : branch(hint, path, sf);
    // undefined: this site gives no text; null: it builds the whole text at run time.
    return [m ? render(m, s) : m === null ? null : undefined, h ? render(h, s) : h === null ? null : undefined];
  };

  // new CpyError('CPY_X', message, { hint }), and super(...) in a subclass. In a helper that takes
  // the message or the hint as a parameter (`notFound(path, message)`), one site per call of it.
  const construction = errorConstruction(parent, file);
  if (construction && unwrap(construction.code) === unwrap(top)) {
    const helper = enclosingHelper(parent);
    const isParameter = (n) => {
      const u = n && unwrap(n);
      return Boolean(u && ts.isIdentifier(u) && helper?.params.includes(u.text));
    };
    const calls = helper && (isParameter(construction.message) || isParameter(construction.hint)) ? callsOf(helper.name, file) : [];
    if (calls.length === 0) return record('site', ...text(construction.message, construction.hint, scope.bindings));
    for (const call of calls) {
      const bindings = new Map(helper.params.map((name, i) => [name, { arg: call.arguments[i], scope: { file, bindings: new Map() } }]));
      record('site', ...text(construction.message, construction.hint, bindings), `${file.path}:${lineOf(sf, call)}`);
    }
    return;
  }

  // A call: a helper of this file that makes the CpyError, else the arguments after the code.
  if ((ts.isCallExpression(parent) || ts.isNewExpression(parent)) && parent.arguments?.includes(top)) {
    const args = [...parent.arguments];
    const index = args.indexOf(top);
    const callee = unwrap(parent.expression);
    const fn = ts.isIdentifier(callee) ? file.helpers.get(callee.text) : undefined;
    const template = fn ? helperTemplate(fn, file) : null;
    if (template && template.codeIndex === index) {
      const bindings = new Map(template.params.map((name, i) => [name, { arg: args[i], scope }]));
      const [m, h] = text(template.message, template.hint, bindings);
      return record('site', m, h);
    }
    const rest = args.slice(index + 1).map(unwrap);
    const options = rest.find((a) => ts.isObjectLiteralExpression(a));
    const hintArg = options ? property(options, 'hint') : rest[1];
    return record('site', ...text(rest[0], hintArg, scope.bindings));
  }

  // { code: 'CPY_X', message, hint }: an error the app renders itself.
  if (ts.isPropertyAssignment(parent) && parent.initializer === top && ts.isObjectLiteralExpression(parent.parent)) {
    const object = parent.parent;
    return record('site', ...text(property(object, 'message'), property(object, 'hint'), scope.bindings));
  }

  return record('site', undefined, undefined);
}

// --- shell -----------------------------------------------------------------------------------

/** The index just after the `)` that closes the `$(` at `start` (quotes and nesting inside it skipped). */
function endOfSubstitution(text, start) {
  let depth = 0;
  for (let j = start; j < text.length; j++) {
    if (text.startsWith('$(', j)) {
      depth++;
      j++;
    } else if (text[j] === "'") {
      const end = text.indexOf("'", j + 1);
      j = end < 0 ? text.length : end;
    } else if (text[j] === '"') {
      for (j++; j < text.length && text[j] !== '"'; j++) {
        if (text[j] === '\\') j++;
        else if (text.startsWith('$(', j)) j = endOfSubstitution(text, j) - 1;
      }
    } else if (text[j] === '\\') j++;
    else if (text[j] === ')' && --depth === 0) return j + 1;
  }
  return text.length;
}

/** The words of a shell command line (quotes removed, $(...) kept whole); stops at ; | & or a comment. */
function shellWords(line) {
  const words = [];
  let word = null;
  let i = 0;
  const push = () => {
    if (word !== null) words.push(word);
    word = null;
  };
  while (i < line.length) {
    const c = line[i];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end < 0 ? undefined : end);
      i = end < 0 ? line.length : end + 1;
    } else if (c === '"') {
      let j = i + 1;
      let out = '';
      while (j < line.length && line[j] !== '"') {
        if (line[j] === '\\' && j + 1 < line.length) {
          out += line[j + 1];
          j += 2;
        } else if (line.startsWith('$(', j)) {
          const end = endOfSubstitution(line, j);
          out += line.slice(j, end);
          j = end;
        } else {
          out += line[j++];
        }
      }
      word = (word ?? '') + out;
      i = j + 1;
    } else if (line.startsWith('$(', i)) {
      const end = endOfSubstitution(line, i);
      word = (word ?? '') + line.slice(i, end);
      i = end;
    } else if (/\s/.test(c)) {
      push();
      i++;
    } else if (c === ';' || c === '|' || c === '&' || (c === '#' && word === null)) {
      break;
    } else {
      word = (word ?? '') + c;
      i++;
    }
  }
  push();
  return words;
}

/** A shell line without its comment: a `#` that starts a word outside quotes. */
function withoutComment(line) {
  let quote = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '\\') i++;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]))) return line.slice(0, i);
  }
  return line;
}

/**
 * Shell text with `{name}` for run-time values: `$x`, `${x}`; `$(f "$x")` for a function of the
 * script; `{…}` for positional parameters, arithmetic and other commands' output.
 */
function renderShellText(text, functions) {
  let out = '';
  for (let i = 0; i < text.length; ) {
    if (text.startsWith('$((', i)) {
      out += '{…}';
      i = text.indexOf('))', i) + 2;
    } else if (text.startsWith('$(', i)) {
      const end = endOfSubstitution(text, i);
      const words = shellWords(text.slice(i + 2, end - 1));
      const variable = functions.has(words[0]) ? /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(words[1] ?? '')?.[1] : undefined;
      out += variable ? `{${variable}}` : '{…}';
      i = end;
    } else if (text[i] === '$' && text[i + 1] === '{') {
      const end = text.indexOf('}', i);
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 2, end))?.[0];
      out += name ? `{${name}}` : '{…}';
      i = end + 1;
    } else if (text[i] === '$' && /[A-Za-z_]/.test(text[i + 1] ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1))[0];
      out += `{${name}}`;
      i += 1 + name.length;
    } else if (text[i] === '$' && /[0-9*@]/.test(text[i + 1] ?? '')) {
      out += '{…}';
      i += 2;
    } else {
      out += text[i++];
    }
  }
  return out;
}

function scanShell(file, found) {
  const source = readFileSync(file.abs, 'utf8');
  const lines = source.split('\n');
  const functions = new Set([...source.matchAll(/^\s*([A-Za-z_][A-Za-z0-9_]*)\(\)\s*\{/gm)].map((m) => m[1]));
  const renderShell = (text) => renderShellText(text, functions);
  // A quoted here-document is data (install.sh's copy of cpy_state.py, scanned in its source).
  let hereDoc = null;
  lines.forEach((raw, n) => {
    if (hereDoc !== null) {
      if (raw === hereDoc) hereDoc = null;
      return;
    }
    hereDoc = /<<-?\s*'([A-Za-z_][A-Za-z0-9_]*)'/.exec(raw)?.[1] ?? null;
    // Named for the script it carries (cpy_state_py: cpy_state.py), whose codes it reports too.
    if (hereDoc) found.carried.set(`${hereDoc.toLowerCase().replace(/_py$/, '')}.py`, file.path.split('/').pop());
    const line = withoutComment(raw).replace(/<<-?\s*'[A-Za-z_][A-Za-z0-9_]*'/, '');
    const at = `${file.path}:${n + 1}`;
    for (const m of line.matchAll(CODE_WORD)) {
      const before = line.slice(0, m.index);
      const after = line.slice(m.index + m[0].length);
      if (/[A-Za-z0-9_]$/.test(before)) continue;
      // $CPY_X, ${CPY_X:-}, CPY_X=value: an environment variable.
      if (/\$\{?$/.test(before) || /^=/.test(after)) {
        found.environment.set(m[0], at);
        continue;
      }
      const record = (kind, message, hint) => found.occurrences.push({ code: m[0], kind, file: file.path, at, project: file.project, message, hint });
      if (/(^|\s)case\s+\S+\s+in\s+[^)]*$/.test(before) || /^[\s|A-Z0-9_]*\)/.test(after)) {
        record('reference');
        continue;
      }
      // `fail CODE "what" 'hint'` (or `error CODE ...`), possibly after `||`, `&&` or `{`.
      const command = /(?:^|[;&|{(]\s*|\s)(fail|error)\s+$/.exec(before);
      if (command) {
        const words = shellWords(line.slice(m.index));
        record('site', words[1] !== undefined ? renderShell(words[1]) : null, words[2] !== undefined ? renderShell(words[2]) : null);
        continue;
      }
      // `sig_code=CODE sig_message="..."`: reported later by `fail "$sig_code" "$sig_message" ...`.
      const variable = /(?:^|\s)([a-z_]+)_code=$/.exec(before)?.[1];
      const message = variable ? shellWords(after).find((w) => w.startsWith(`${variable}_message=`)) : undefined;
      record('site', message ? renderShell(message.slice(variable.length + '_message='.length)) : null);
    }
  });
}

// --- Python ----------------------------------------------------------------------------------

/**
 * Python scripts run by the installers (libs/<p>/python): a code is a whole string literal
 * 'CPY_X' outside comments; one read from the environment (os.environ['CPY_X'],
 * os.environ.get('CPY_X'), os.getenv('CPY_X')) is an environment variable. They give no text: a
 * code only Python reports needs its meaning and action in error-codes.json.
 */
function scanPython(file, found) {
  readFileSync(file.abs, 'utf8')
    .split('\n')
    .forEach((raw, n) => {
      const line = withoutComment(raw);
      const at = `${file.path}:${n + 1}`;
      for (const m of line.matchAll(/(['"])(CPY_[A-Z0-9_]+)\1/g)) {
        const before = line.slice(0, m.index);
        if (/(environ\s*\[|environ\.get\(|getenv\()\s*$/.test(before)) found.environment.set(m[2], at);
        else if (/(==|!=|\bin)\s*$/.test(before)) found.occurrences.push({ code: m[2], kind: 'reference', file: file.path, at, project: file.project });
        else found.occurrences.push({ code: m[2], kind: 'site', file: file.path, at, project: file.project, message: undefined, hint: undefined });
      }
    });
}

// --- the catalog -----------------------------------------------------------------------------

export function scan(root) {
  const found = { occurrences: [], environment: new Map(), envConstants: new Set(), constantLiterals: new Map(), carried: new Map() };
  const files = sourceFiles(root);
  const parsed = files.filter((f) => f.kind === 'ts').map(parseTs);
  // Exported string constants (METADATA_ENTRY = 'cpy-artifact.json'), for the files that import them.
  const exportedConstants = new Map();
  for (const file of parsed) {
    for (const [name, node] of file.exports) exportedConstants.set(name, exportedConstants.has(name) ? 'ambiguous' : { node, file });
  }
  for (const file of parsed) file.exportedConstants = exportedConstants;
  for (const file of parsed) scanTs(file, found);
  for (const file of files.filter((f) => f.kind === 'sh')) scanShell(file, found);
  for (const file of files.filter((f) => f.kind === 'py')) scanPython(file, found);
  // A constant read as env[NAME] holds an environment variable's name.
  for (const name of found.envConstants) {
    const value = found.constantLiterals.get(name);
    if (value) found.environment.set(value, `const ${name}`);
  }
  return { found, files: files.map((f) => f.path) };
}

const OWNER_ORDER = ['artifact', 'transfer', 'signing', 'build', 'install', 'lifecycle', 'publish', 'cli', 'feature'];

function ownerLabel(project, files, carried) {
  const scripts = [...new Set(files.filter((f) => !/\.[cm]?ts$/.test(f)).map((f) => f.split('/').pop()))].map((s) => (carried.has(s) ? `${s}, which ${carried.get(s)} carries` : s));
  const name = ownerKey(project);
  const parts = [];
  if (files.some((f) => /\.[cm]?ts$/.test(f))) parts.push(project.group === 'libs' ? name : `${name} (app)`);
  if (scripts.length) parts.push(`${name} (${scripts.join(', ')})`);
  return parts.join(', ');
}

/** The catalog: one entry per code reported anywhere, with where it comes from and what it means. */
export function buildCatalog(root) {
  const { found } = scan(root);
  const data = readData(root);
  for (const name of data.environment ?? []) found.environment.set(name, DATA);

  const problems = [];
  const codes = new Map();
  for (const o of found.occurrences) {
    if (found.environment.has(o.code)) continue;
    if (!codes.has(o.code)) codes.set(o.code, { code: o.code, sites: [], references: [] });
    const entry = codes.get(o.code);
    if (o.kind === 'site') entry.sites.push(o);
    else entry.references.push(o);
  }
  for (const [code, entry] of codes) {
    if (entry.sites.length === 0) {
      problems.push(`${code} is compared against (${entry.references.map((r) => r.at).join(', ')}) but nothing reports it`);
      codes.delete(code);
    }
  }

  // The closed catalog: each reported code is listed there, under a library or app that reports it,
  // and nothing else is.
  const closed = readClosedCatalog(root);
  if (closed) {
    for (const [code, entry] of codes) {
      const reporters = [...new Set(entry.sites.map((s) => ownerKey(s.project)))];
      const owner = closed.get(code);
      if (!owner) problems.push(`${code} is reported (${entry.sites[0].at}) but is not in the closed catalog: add it to ${reporters[0]}'s codes in ${CLOSED}`);
      else if (!reporters.includes(owner)) problems.push(`${CLOSED} gives ${code} to ${owner}, which does not report it (${reporters.join(', ')} do): move it`);
    }
    for (const code of closed.keys()) if (!codes.has(code)) problems.push(`${CLOSED} lists ${code}, which nothing reports: remove it`);
  }

  const descriptions = data.codes ?? {};
  for (const code of Object.keys(descriptions)) {
    if (!codes.has(code)) problems.push(`${DATA} describes ${code}, which nothing reports: remove its entry`);
  }

  const catalog = [];
  for (const code of [...codes.keys()].sort()) {
    const entry = codes.get(code);
    const given = descriptions[code] ?? {};
    const pick = (field, label) => {
      if (given[field]) return given[field];
      // The libraries' sites say it; the apps' only when no library reports the code, and the
      // Feature's install.sh (which mirrors the library) only when nothing else does. Sites that
      // give no text (a code kept in a variable first) do not count; one that builds its whole text
      // at run time does (it is not known to say the same).
      const key = field === 'meaning' ? 'message' : 'hint';
      const isTs = (s) => /\.[cm]?ts$/.test(s.file);
      const tiers = [(s) => s.project.group === 'libs' && isTs(s), isTs, () => true];
      for (const tier of tiers) {
        const sites = entry.sites.filter(tier);
        if (sites.length === 0) continue;
        const values = [...new Set(sites.map((s) => s[key]).filter((v) => v !== undefined))];
        if (values.length === 1 && values[0]) return values[0];
        break;
      }
      const shown = entry.sites.map((s) => `    ${s.at}: ${JSON.stringify(s[key])}`).join('\n');
      problems.push(`${code}: its sites do not give one ${label}; write "${field}" for it in ${DATA}:\n${shown}`);
      return '';
    };
    const meaning = pick('meaning', 'message');
    const action = pick('action', 'hint');
    const byProject = new Map();
    for (const s of entry.sites) {
      const key = s.project.name;
      if (!byProject.has(key)) byProject.set(key, { project: s.project, files: new Set() });
      byProject.get(key).files.add(s.file);
    }
    const owners = [...byProject.values()]
      .sort((a, b) => rank(a.project) - rank(b.project) || a.project.name.localeCompare(b.project.name))
      .map((p) => ownerLabel(p.project, [...p.files], found.carried));
    catalog.push({ code, owners, meaning, action, sites: entry.sites.map((s) => s.at) });
  }
  if (problems.length) throw new CatalogError(`the error catalog cannot be written:\n  - ${problems.join('\n  - ')}`);
  const environment = [...found.environment.keys()].filter((n) => !codes.has(n)).sort();
  return { catalog, environment };
}

/** Libraries first, from the one everything uses to the ones that use most; then the apps. */
const rank = (project) => (project.group === 'libs' ? 0 : 100) + (OWNER_ORDER.includes(project.name) ? OWNER_ORDER.indexOf(project.name) : OWNER_ORDER.length);

/** The key of a project in the closed catalog: `@cpy/<name>` for a library, the app's name for an app. */
const ownerKey = (project) => (project.group === 'libs' ? `@cpy/${project.name}` : project.name);

/** The closed catalog, ERROR_CODES in libs/core/src/codes.ts: code -> owner; null in a tree without one. */
function readClosedCatalog(root) {
  const path = join(root, CLOSED);
  if (!existsSync(path)) return null;
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const owners = new Map();
  let seen = false;
  const visit = (node) => {
    if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && node.name.text === 'ERROR_CODES') {
      seen = true;
      const table = unwrap(node.initializer);
      if (!table || !ts.isObjectLiteralExpression(table)) throw new CatalogError(`${CLOSED}: ERROR_CODES is not an object literal`);
      for (const prop of table.properties) {
        const list = ts.isPropertyAssignment(prop) ? unwrap(prop.initializer) : null;
        if (!list || !ts.isArrayLiteralExpression(list) || !(ts.isStringLiteral(prop.name) || ts.isIdentifier(prop.name))) {
          throw new CatalogError(`${CLOSED}: ERROR_CODES holds something other than 'owner': ['CPY_...', ...]`);
        }
        for (const element of list.elements) {
          if (!ts.isStringLiteral(element) || !CODE_TEXT.test(element.text)) throw new CatalogError(`${CLOSED}: ${element.getText(source)} is not a code`);
          if (owners.has(element.text)) throw new CatalogError(`${CLOSED} lists ${element.text} twice`);
          owners.set(element.text, prop.name.text);
        }
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  if (!seen) throw new CatalogError(`${CLOSED} has no ERROR_CODES`);
  return owners;
}

function readData(root) {
  const path = join(root, DATA);
  if (!existsSync(path)) return {};
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Markdown table cell text: one line, pipes escaped, and `<name>` outside code spans kept visible (not read as HTML). */
function cell(text) {
  return text
    .replace(/\s*\n\s*/g, ' ')
    .split('`')
    .map((part, i) => (i % 2 === 0 ? part.replace(/</g, '\\<') : part))
    .join('`')
    .replace(/\|/g, '\\|')
    .trim();
}

export function renderCatalog({ catalog, environment }) {
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated by tools/scripts/error-catalog.mjs from the code; do not edit. Regenerate with',
    '     `npm run docs:errors`; hand-written descriptions are in tools/scripts/error-codes.json. -->',
    '',
    'Every error cpy reports has a stable code, a message that says what happened and a hint that',
    'says what to do. The CLI prints them as `error [CODE]: message` and `hint: ...` (with `--json`,',
    'as `{"outcome":"error","error":{"code":...,"message":...,"hint":...,"details":{...}}}`, `details`',
    'where the error carries data for programs: the files, the distributions that failed) and exits',
    'with 1 (2 for `CPY_CLI_USAGE`, `CPY_CLI_NOT_AVAILABLE`, and the inputs nothing gave: `CPY_INSTALL_NO_INDEX`,',
    '`CPY_OUTDATED_NO_INDEX`, `CPY_PUBLISH_NO_REPOSITORY`; 130, 143 or 129 for `CPY_ARTIFACT_CANCELLED`, as the',
    'signal that stopped it would); the libraries throw them as `CpyError`',
    "(`code`, `message`, `hint`, `details`, `cause`); the Dev Container Feature's `install.sh` prints the",
    'same codes as the library.',
    '',
    `${catalog.length} codes. \`{name}\` stands for a value known only when the error happens. The codes are`,
    'a closed catalog: `ERROR_CODES` in `libs/core/src/codes.ts` lists each, under the library or app',
    "that owns it, and `CpyError` takes no other (its `code` is the union type `CpyErrorCode`). This",
    'file is generated from the throw sites (their message and hint); a code with several sites is',
    'described once, by what they have in common.',
    '',
    '| Code | From | Meaning | What to do |',
    '|---|---|---|---|',
    ...catalog.map((e) => `| \`${e.code}\` | ${cell(e.owners.join('; '))} | ${cell(e.meaning)} | ${cell(e.action)} |`),
    '',
    `Not error codes: ${environment.map((n) => `\`${n}\``).join(', ')} are environment variables.`,
    '',
  ];
  return lines.join('\n');
}

// --- command line ----------------------------------------------------------------------------

function main(argv) {
  const rootAt = argv.indexOf('--root');
  const root = rootAt >= 0 ? argv[rootAt + 1] : join(HERE, '..', '..');
  let result;
  try {
    result = buildCatalog(root);
  } catch (error) {
    if (!(error instanceof CatalogError)) throw error;
    process.stderr.write(`error: ${error.message}\n`);
    return 1;
  }
  if (argv.includes('--json')) {
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
    return 0;
  }
  const text = renderCatalog(result);
  const target = join(root, OUTPUT);
  if (argv.includes('--stdout')) {
    process.stdout.write(text);
    return 0;
  }
  if (argv.includes('--check')) {
    const current = existsSync(target) ? readFileSync(target, 'utf8') : null;
    if (current === text) return 0;
    process.stderr.write(`error: ${OUTPUT} is out of date: run npm run docs:errors\n`);
    return 1;
  }
  writeFileSync(target, text);
  process.stderr.write(`wrote ${OUTPUT}: ${result.catalog.length} codes\n`);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exitCode = main(process.argv.slice(2));
