// The command table: which verbs exist, whether they need a login and an argument, and what FEAT
// advertises. The session implements one handler per entry; anything not here answers 502.
import { mlstFeature } from './listing.js';

export type ArgRule = 'none' | 'required' | 'optional';

export interface CommandSpec {
  /** Needs a logged-in user (otherwise 530). */
  login: boolean;
  arg: ArgRule;
  /** Allowed while a transfer runs (answered at once, not after the transfer). */
  duringTransfer?: boolean;
  /** The verb this one is an old alias of (RFC 775 X-commands). */
  alias?: string;
}

export const COMMANDS = {
  USER: { login: false, arg: 'required' },
  PASS: { login: false, arg: 'optional' },
  QUIT: { login: false, arg: 'none' },
  NOOP: { login: false, arg: 'none' },
  SYST: { login: false, arg: 'none' },
  FEAT: { login: false, arg: 'none' },
  OPTS: { login: false, arg: 'required' },
  HELP: { login: false, arg: 'optional' },
  AUTH: { login: false, arg: 'required' },
  PBSZ: { login: false, arg: 'required' },
  PROT: { login: false, arg: 'required' },
  CCC: { login: false, arg: 'none' },
  TYPE: { login: true, arg: 'required' },
  MODE: { login: true, arg: 'required' },
  STRU: { login: true, arg: 'required' },
  PWD: { login: true, arg: 'none' },
  XPWD: { login: true, arg: 'none', alias: 'PWD' },
  CWD: { login: true, arg: 'required' },
  XCWD: { login: true, arg: 'required', alias: 'CWD' },
  CDUP: { login: true, arg: 'none' },
  XCUP: { login: true, arg: 'none', alias: 'CDUP' },
  LIST: { login: true, arg: 'optional' },
  NLST: { login: true, arg: 'optional' },
  MLSD: { login: true, arg: 'optional' },
  MLST: { login: true, arg: 'optional' },
  SIZE: { login: true, arg: 'required' },
  MDTM: { login: true, arg: 'required' },
  MFMT: { login: true, arg: 'required' },
  RETR: { login: true, arg: 'required' },
  STOR: { login: true, arg: 'required' },
  APPE: { login: true, arg: 'required' },
  STOU: { login: true, arg: 'optional' },
  REST: { login: true, arg: 'required' },
  DELE: { login: true, arg: 'required' },
  MKD: { login: true, arg: 'required' },
  XMKD: { login: true, arg: 'required', alias: 'MKD' },
  RMD: { login: true, arg: 'required' },
  XRMD: { login: true, arg: 'required', alias: 'RMD' },
  RNFR: { login: true, arg: 'required' },
  RNTO: { login: true, arg: 'required' },
  ABOR: { login: true, arg: 'none', duringTransfer: true },
  STAT: { login: true, arg: 'optional', duringTransfer: true },
  PASV: { login: true, arg: 'none' },
  EPSV: { login: true, arg: 'optional' },
  PORT: { login: true, arg: 'required' },
  EPRT: { login: true, arg: 'required' },
  SITE: { login: true, arg: 'required' },
} as const satisfies Record<string, CommandSpec>;

export type Verb = keyof typeof COMMANDS;

export function lookupCommand(verb: string): CommandSpec | undefined {
  return Object.hasOwn(COMMANDS, verb) ? (COMMANDS as Record<string, CommandSpec>)[verb] : undefined;
}

/** FEAT body lines (RFC 2389), each sent with a leading space. */
export function featureLines(tls: { auth: boolean; prot: boolean }): string[] {
  const lines = [
    'EPRT',
    'EPSV',
    'MDTM',
    'MFMT',
    mlstFeature(),
    'REST STREAM',
    'SIZE',
    'TVFS',
    'UTF8',
  ];
  if (tls.prot) lines.unshift('PBSZ', 'PROT');
  if (tls.auth) lines.unshift('AUTH TLS');
  return lines;
}

/** HELP: the verbs we implement, eight to a line. */
export function helpLines(): string[] {
  const verbs = Object.keys(COMMANDS);
  const lines: string[] = [];
  for (let i = 0; i < verbs.length; i += 8) lines.push(verbs.slice(i, i + 8).map((v) => v.padEnd(5)).join(' ').trimEnd());
  return lines;
}
