/**
 * Which branch names a Kapsa spec may name: the names git itself can have
 * (`git check-ref-format --branch`), minus a few Kapsa refuses on purpose. The Project spec
 * (repository.branch, environments[].branch, preview globs) carries the rule twice from here: as
 * the JSON Schema `pattern` of its CRD (so `kubectl apply` refuses a bad name) and as the hook's
 * own check (so an object stored before the rule existed gets InvalidSpec with a field path).
 *
 * git's rules (git-check-ref-format(1), applied to `refs/heads/<name>`):
 *   no ASCII control character, space, `~ ^ : ? * [ \`; no `..`; no `@{`; does not start with
 *   `-` or `/`, does not end with `/` or `.`; no `//`; no component that starts with `.` or ends
 *   with `.lock`; and `--branch` refuses `HEAD`.
 * Kapsa refuses as well, although git allows them:
 *   - invisible, spacing and bidirectional-control characters (C1 controls, U+00A0, U+00AD,
 *     U+061C, U+1680, U+180E, U+2000–U+200F, U+2028–U+202F, U+205F–U+206F, U+3000, U+FEFF,
 *     U+FFF9–U+FFFB): with them a branch name can look like another one (`main` followed by
 *     U+200E is not `main`), and a right-to-left override reorders what a reviewer reads;
 *   - `@` (git reads it as HEAD) and names starting with `refs/`: Kapsa wants the short name
 *     (`main`, not `refs/heads/main`, which git would store as refs/heads/refs/heads/main).
 * A preview glob follows the same character and component rules, with `*` allowed (a glob made
 * only of names git cannot have would never match anything).
 *
 * The pattern is built for both regex dialects it meets: ECMAScript without the `u` flag
 * (TypeBox) and Go's RE2 (the API server). So: no lookaround, no `\u`/`\p` escapes, characters
 * above U+00FF written literally (both engines read one BMP code point as one character), and
 * `\xHH` for the rest. Refused characters above U+FFFF cannot be written for both and are not in
 * the list.
 */

/** Code point ranges Kapsa refuses in branch names although git allows them. */
export const REFUSED_INVISIBLE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x80, 0x9f],
  [0xa0, 0xa0],
  [0xad, 0xad],
  [0x61c, 0x61c],
  [0x1680, 0x1680],
  [0x180e, 0x180e],
  [0x2000, 0x200f],
  [0x2028, 0x202f],
  [0x205f, 0x206f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
  [0xfff9, 0xfffb],
];

/** Characters git refuses anywhere in a ref name, besides ASCII controls and space. */
const GIT_REFUSED_PUNCTUATION = ['~', '^', ':', '?', '*', '[', '\\'] as const;

// ---------------------------------------------------------------------------------------------
// The pattern

function classChar(code: number): string {
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
  return String.fromCharCode(code);
}

const INVISIBLE_CLASS = REFUSED_INVISIBLE_RANGES.map(([from, to]) => (from === to ? classChar(from) : `${classChar(from)}-${classChar(to)}`)).join('');

/** The body of a negated character class: what may never appear in a run of name characters. */
function refusedClass(star: boolean, extra: string): string {
  const punctuation = GIT_REFUSED_PUNCTUATION.filter((char) => !(star && char === '*'))
    .map((char) => (char === '[' || char === '\\' || char === '^' ? `\\${char}` : char))
    .join('');
  return `[^\\x00-\\x20\\x7f${punctuation}${INVISIBLE_CLASS}./${extra}]`;
}

/**
 * The name is a first run followed by tokens; a run is a stretch without `.` and `/`.
 *   run    no `@{` inside:           (A | @+B)* @*, not empty
 *   token  `/run`, or a dot token:   .(lock.)* then a run other than `lock`, or `/run`
 * so `..`, `//`, `/.` and a trailing `.` or `/` cannot be spelled, and `.lock` can only be
 * followed by another `.`. A is a run character other than `@`, B one other than `@` and `{`.
 */
function refPattern(star: boolean): string {
  const A = refusedClass(star, '@');
  const B = refusedClass(star, '@{');
  const aBut = (char: string): string => refusedClass(star, `@${char === '-' ? '\\-' : char}`);
  const T = `(?:${A}|@+${B})*@*`;
  const run = (first: string): string => `(?:(?:${first}|@+${B})${T}|@+)`;
  const notLock = `(?:(?:(?:lock|loc|lo|l)?@+${B}|lock${A}|loc${aBut('k')}|lo${aBut('c')}|l${aBut('o')}|${aBut('l')})${T}|(?:lock|loc|lo|l)?@+|loc|lo|l)`;
  const R = run(A);
  const token = `(?:(?:\\.(?:lock\\.)*)?/${R}|\\.(?:lock\\.)*${notLock})`;
  return `^${run(aBut('-'))}${token}*$`;
}

/** A branch name git can have (with Kapsa's refused characters); see KAPSA_SHORT_NAME_RULE for the rest. */
export const BRANCH_NAME_PATTERN = refPattern(false);

/** A preview glob: the same rules with `*` allowed. */
export const BRANCH_GLOB_PATTERN = refPattern(true);

/**
 * What the pattern leaves to a CEL rule: the whole names git's `--branch` or Kapsa refuses and
 * the `refs/` prefix (so the API server's message can say it in words).
 */
export const KAPSA_SHORT_NAME_RULE = {
  rule: "self != 'HEAD' && self != '@' && !self.startsWith('refs/')",
  message: 'must be a short branch name such as main: not HEAD, not @, not starting with refs/',
} as const;

export const BRANCH_NAME_DESCRIPTION =
  'a name git accepts for a branch (git check-ref-format --branch: no spaces, control characters, ~ ^ : ? * [ \\, "..", "@{" or "//"; no component starting with "." or ending with ".lock"; not starting with "-" or ending with "." or "/"), short (not starting with refs/, not HEAD or @) and free of invisible and bidirectional-control characters';

// ---------------------------------------------------------------------------------------------
// The check, in words

function codePointText(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
}

function isRefusedInvisible(code: number): boolean {
  return REFUSED_INVISIBLE_RANGES.some(([from, to]) => code >= from && code <= to);
}

/** Why `name` breaks git's rules (or Kapsa's character rule), or undefined. `star` allows `*` (globs). */
function refProblem(name: string, star: boolean): string | undefined {
  if (name === '') return 'is empty';
  for (const char of name) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) return `contains the control character ${codePointText(code)}`;
    if (code === 0x20) return 'contains a space';
    if ((GIT_REFUSED_PUNCTUATION as readonly string[]).includes(char) && !(star && char === '*')) return `contains "${char}"`;
    if (isRefusedInvisible(code)) {
      return `contains ${codePointText(code)}, an invisible, spacing or bidirectional-control character (git allows it; Kapsa refuses it so that a branch name cannot pass for another)`;
    }
  }
  if (name.startsWith('-')) return 'starts with "-"';
  if (name.startsWith('/')) return 'starts with "/"';
  if (name.endsWith('/')) return 'ends with "/"';
  if (name.includes('//')) return 'contains "//"';
  if (name.includes('..')) return 'contains ".."';
  const components = name.split('/');
  if (components.some((component) => component.startsWith('.'))) return 'has a component starting with "."';
  if (components.some((component) => component.endsWith('.lock'))) return 'has a component ending with ".lock"';
  if (name.endsWith('.')) return 'ends with "."';
  if (name.includes('@{')) return 'contains "@{"';
  return undefined;
}

/**
 * Why `name` cannot be a branch a Project follows, or undefined when it can: git's rules for a
 * branch name, Kapsa's refused characters, and a short name (not HEAD, not @, no refs/ prefix).
 */
export function branchNameProblem(name: string): string | undefined {
  const problem = refProblem(name, false);
  if (problem !== undefined) return problem;
  if (name === 'HEAD') return 'is "HEAD", which git refuses as a branch name';
  if (name === '@') return 'is "@", which git reads as HEAD';
  if (name.startsWith('refs/')) return 'starts with "refs/": give the short branch name (main, not refs/heads/main)';
  return undefined;
}

/** Why `glob` cannot be a preview branch glob, or undefined: the branch rules with `*` allowed. */
export function branchGlobProblem(glob: string): string | undefined {
  return refProblem(glob, true);
}
