// Reads BASEDIR/tahoe.cfg into a typed NodeConfig, checking it against SCHEMA. All problems in a
// file are collected and thrown together as one ConfigError, one `FILE:LINE: ...` per line.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, formatProblem, type Problem } from './errors.js';
import { readIni, type IniDocument } from './ini.js';
import {
  SCHEMA, crossKeyProblems, isTahoeSection, type LineOf, type OptionSpec, type SchemaConfig, type SectionName,
} from './schema.js';

export interface NodeConfig extends SchemaConfig {
  /** Absolute path of the node directory. */
  basedir: string;
  /** The config file that was read (used in error messages). */
  file: string;
  /** BASEDIR/node.url, trimmed, when the file exists: the web-API URL of a Tahoe-LAFS node. */
  nodeUrl?: string;
}

export const CONFIG_FILE = 'tahoe.cfg';

const OUR_SECTIONS = Object.keys(SCHEMA) as SectionName[];

/** Validates tahoe.cfg text without touching the filesystem. Throws ConfigError on any problem. */
export function parseNodeConfig(text: string, basedir: string, file: string): NodeConfig {
  const { config, problems } = checkNodeConfig(text, basedir, file);
  if (problems.length) throw toError(file, problems);
  return config;
}

// In file order, so the report reads top to bottom (the sort is stable: same line, rule order).
function toError(file: string, problems: Problem[]): ConfigError {
  const sorted = [...problems].sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  return new ConfigError(sorted.map((p) => formatProblem(file, p)));
}

/** Reads and validates BASEDIR/tahoe.cfg, checks that the files it names exist, reads node.url. */
export function loadNodeConfig(basedir: string): NodeConfig {
  const base = resolve(basedir);
  const file = join(base, CONFIG_FILE);
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw new ConfigError(
        `${base} is not a node directory (no ${CONFIG_FILE} in it); run \`lafsd init ${base}\` to create one`,
      );
    }
    throw new ConfigError(`${file}: cannot read: ${(err as Error).message}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ConfigError(`${file}: is not valid UTF-8 text`);
  }

  const nodeUrl = readOptional(join(base, 'node.url'))?.trim() || undefined;
  const { config, problems, lineOf } = checkNodeConfig(text, base, file, nodeUrl);
  problems.push(...missingFileProblems(config, lineOf));
  if (problems.length) throw toError(file, problems);
  if (nodeUrl) {
    config.nodeUrl = nodeUrl;
    // An existing Tahoe-LAFS node directory: serve that node's grid unless told otherwise.
    const grid = lineOf('lafsd', 'grid') === undefined ? 'webapi' : config.lafsd.grid;
    if (grid === 'webapi') return { ...config, lafsd: { ...config.lafsd, grid, webapiUrl: config.lafsd.webapiUrl ?? nodeUrl } };
  }
  return config;
}

function checkNodeConfig(text: string, basedir: string, file: string, nodeUrl?: string) {
  const base = resolve(basedir);
  const { doc, problems } = readIni(text, file);
  const lineOf: LineOf = (section, key) => {
    const s = doc.sections.get(section);
    return key === undefined ? s?.line : s?.values.get(key)?.line;
  };
  problems.push(...unknownSectionProblems(doc));
  const values = {} as Record<SectionName, Record<string, unknown>>;
  for (const section of OUR_SECTIONS) {
    values[section] = readSection(doc, section, base, problems);
  }
  const schemaConfig = values as unknown as SchemaConfig;
  problems.push(...crossKeyProblems(schemaConfig, lineOf, { hasNodeUrl: nodeUrl !== undefined }));
  const config: NodeConfig = { basedir: base, file, ...schemaConfig };
  return { config, problems, lineOf };
}

function unknownSectionProblems(doc: IniDocument): Problem[] {
  const out: Problem[] = [];
  for (const s of doc.sections.values()) {
    if ((OUR_SECTIONS as string[]).includes(s.name) || isTahoeSection(s.name)) continue;
    out.push({
      line: s.line,
      message: `contains unknown section [${s.name}]; lafsd reads ${OUR_SECTIONS.map((n) => `[${n}]`).join(', ')} `
        + `and ignores Tahoe-LAFS's own sections ([node], [client], [storage], ...)`,
    });
  }
  return out;
}

// Parses one of our sections. A missing or empty optional key stays unset (Tahoe treats
// `accounts.file =` as not configured); a key with a default gets the default when absent.
function readSection(doc: IniDocument, section: SectionName, basedir: string, problems: Problem[]) {
  const specs = Object.entries(SCHEMA[section]) as [string, OptionSpec<unknown>][];
  const byKey = new Map(specs.map(([prop, spec]) => [spec.key, { prop, spec }]));
  const out: Record<string, unknown> = {};
  const ini = doc.sections.get(section);

  for (const [key, { line }] of ini?.values ?? []) {
    if (!byKey.has(key)) {
      problems.push({
        line,
        message: `[${section}] contains unknown option '${key}'; accepted: ${[...byKey.keys()].join(', ')}`,
      });
    }
  }
  for (const [prop, spec] of specs) {
    const given = ini?.values.get(spec.key);
    const raw = given && !(given.value === '' && !spec.hasDefault) ? given.value : spec.default;
    if (raw === undefined) continue;
    const parsed = spec.type.parse(raw, { basedir });
    if (parsed.ok) {
      out[prop] = parsed.value;
      continue;
    }
    problems.push({ line: given?.line, message: `[${section}] ${spec.key}: ${parsed.problem}` });
    // Fall back to the default so later rules see a sane value instead of cascading errors.
    const fallback = spec.default !== undefined ? spec.type.parse(spec.default, { basedir }) : undefined;
    if (fallback?.ok) out[prop] = fallback.value;
  }
  return out;
}

// Only for servers that will run: a disabled frontend may name files that are not there yet.
function missingFileProblems(cfg: NodeConfig, lineOf: LineOf): Problem[] {
  const out: Problem[] = [];
  if (!cfg.sftpd.enabled) return out;
  const keys = [
    ['host_privkey_file', cfg.sftpd.hostPrivkeyFile],
    ['host_pubkey_file', cfg.sftpd.hostPubkeyFile],
  ] as const;
  for (const [key, path] of keys) {
    if (path !== undefined && readOptional(path) === undefined) {
      out.push({ line: lineOf('sftpd', key), message: `[sftpd] ${key}: ${path} does not exist or cannot be read` });
    }
  }
  return out;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
