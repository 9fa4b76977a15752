// A reader for tahoe.cfg with the rules of Python's ConfigParser as Tahoe-LAFS uses it (strict
// mode, no interpolation, no inline comments), so that a file Tahoe accepts means the same here.
// It only reads structure; what the keys mean is schema.ts's job.
import { ConfigError, formatProblem, type Problem } from './errors.js';

export interface IniValue {
  value: string;
  /** 1-based line of the `key = value` line (continuation lines belong to it). */
  line: number;
}

export interface IniSection {
  name: string;
  line: number;
  /** Keys are lowercased (ConfigParser's optionxform); insertion order is file order. */
  values: Map<string, IniValue>;
}

export interface IniDocument {
  file: string;
  sections: Map<string, IniSection>;
}

// `[name]`, optionally followed by a comment. ConfigParser would silently ignore any text after
// the `]`; we refuse it, since it is more likely a typo than intent.
const SECTION_RE = /^\[([^\]]+)\]\s*(?:[#;].*)?$/;

// Python's str.strip() does not treat U+FEFF as whitespace but JavaScript's trim() does; a BOM
// that is not at the very start of the file must stay visible (and be an error), as in Tahoe.
const trim = (s: string) => s.replace(/^[^\S\uFEFF]+|[^\S\uFEFF]+$/g, '');

/** Parses the text, collecting every structural problem instead of stopping at the first. */
export function readIni(text: string, file: string): { doc: IniDocument; problems: Problem[] } {
  const doc: IniDocument = { file, sections: new Map() };
  const problems: Problem[] = [];
  if (text.startsWith('\uFEFF')) text = text.slice(1); // Tahoe skips a UTF-8 BOM

  let section: IniSection | undefined;
  let current: IniValue | undefined; // the value that indented lines continue
  let indentLevel = 0; // indentation of the line that started `current`
  let pendingBlanks = 0; // blank lines inside a value are kept only if more value follows

  const lines = text.split(/\r\n|\r|\n/); // Python's universal newlines
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i] ?? '';
    const trimmed = trim(raw);
    // Full-line comments may be indented and never end a multi-line value.
    if (trimmed.startsWith('#') || trimmed.startsWith(';')) continue;
    if (trimmed === '') {
      if (current) pendingBlanks++;
      continue;
    }
    const indent = raw.search(/[\S\uFEFF]/);
    if (current && indent > indentLevel) {
      current.value += '\n'.repeat(pendingBlanks + 1) + trimmed;
      pendingBlanks = 0;
      continue;
    }
    current = undefined;
    pendingBlanks = 0;
    indentLevel = indent;

    if (trimmed.startsWith('[')) {
      const m = SECTION_RE.exec(trimmed);
      if (!m) {
        problems.push({ line: lineNo, message: `malformed section header ${quote(trimmed)}; expected [name]` });
        // Its keys go to a section outside the document: reporting them as unknown options of
        // the previous section, or as keys outside any section, would only mislead.
        section = { name: trimmed, line: lineNo, values: new Map() };
        continue;
      }
      const name = m[1] ?? '';
      const existing = doc.sections.get(name);
      if (existing) {
        problems.push({ line: lineNo, message: `duplicate section [${name}] (first at line ${existing.line})` });
        section = existing; // keep reading into it, so its keys are still checked
      } else {
        section = { name, line: lineNo, values: new Map() };
        doc.sections.set(name, section);
      }
      continue;
    }

    const delim = trimmed.search(/[=:]/);
    const key = delim > 0 ? trim(trimmed.slice(0, delim)).toLowerCase() : '';
    if (key === '') {
      problems.push({
        line: lineNo,
        message: `malformed line ${quote(trimmed)}; expected [section], key = value, or a # comment`,
      });
      continue;
    }
    const entry: IniValue = { value: trim(trimmed.slice(delim + 1)), line: lineNo };
    current = entry; // even a rejected entry owns its continuation lines
    if (!section) {
      problems.push({ line: lineNo, message: `option '${key}' is outside any section; put a [section] header above it` });
      continue;
    }
    const first = section.values.get(key);
    if (first) {
      problems.push({
        line: lineNo,
        message: `[${section.name}] duplicate option '${key}' (first set at line ${first.line})`,
      });
      continue;
    }
    section.values.set(key, entry);
  }
  return { doc, problems };
}

/** Parses the text or throws one ConfigError listing every problem, each with file and line. */
export function parseIni(text: string, file: string): IniDocument {
  const { doc, problems } = readIni(text, file);
  if (problems.length) throw new ConfigError(problems.map((p) => formatProblem(file, p)));
  return doc;
}

/**
 * Quotes user text for an error message: shortened so one bad line cannot flood the log, with
 * invisible characters (BOM, zero-width, bidi controls) escaped so the reader can see them.
 */
export function quote(text: string): string {
  const short = text.length > 80 ? `${text.slice(0, 77)}...` : text;
  return JSON.stringify(short).replace(
    /[\u007f-\u009f\u00ad\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
