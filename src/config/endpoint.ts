// Listening addresses in Twisted's "strports" notation, which tahoe.cfg uses for `port` keys.
// Only the TCP forms are accepted: they are all a frontend needs, and refusing the rest (unix,
// ssl, systemd, plugins) at startup beats half-supporting them.
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { ConfigError } from './errors.js';

export interface Endpoint {
  family: 4 | 6;
  /** 0 asks the OS for an ephemeral port. */
  port: number;
  /** The address to bind: `0.0.0.0` or `::` when no interface is given. */
  host: string;
  backlog?: number;
  /** The endpoint string as written in the config. */
  text: string;
}

export const ENDPOINT_FORMS = 'tcp:PORT[:interface=ADDR] or tcp6:PORT[:interface=ADDR]';

interface Field {
  key?: string; // set for `key=value` fields
  value: string;
}

// Twisted's tokenizer: `:` separates fields, the first unescaped `=` in a field splits key from
// value, and `\` makes the next character literal (so IPv6 colons can be written as `\:`).
function splitFields(text: string): Field[] | string {
  const fields: Field[] = [];
  let field: Field = { value: '' };
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      if (i + 1 >= text.length) return 'it ends with a lone backslash';
      field.value += text[++i];
    } else if (c === ':') {
      fields.push(field);
      field = { value: '' };
    } else if (c === '=' && field.key === undefined) {
      field = { key: field.value, value: '' };
    } else {
      field.value += c;
    }
  }
  fields.push(field);
  return fields;
}

const MAX_BACKLOG = 65535;

/** Parses an endpoint, or returns why it is not one (a phrase; may be empty for plain junk). */
export function checkEndpoint(text: string): Endpoint | string {
  if (text.trim() === '') return 'it is empty';
  const fields = splitFields(text);
  if (typeof fields === 'string') return fields;
  const [kind, portField, ...rest] = fields;
  if (!kind || kind.key !== undefined) return '';
  if (/^[0-9]+$/.test(kind.value) && fields.length === 1) return ''; // old Tahoe's bare "8021"
  if (kind.value !== 'tcp' && kind.value !== 'tcp6') {
    return `endpoint type '${kind.value}' is not supported`;
  }
  const family = kind.value === 'tcp' ? 4 : 6;
  if (!portField || portField.key !== undefined || portField.value === '') return 'the port is missing';
  if (!/^[0-9]{1,10}$/.test(portField.value)) return `port '${portField.value}' is not a number`;
  const port = Number(portField.value);
  if (port > 65535) return `port ${port} is out of range 0-65535`;

  const seen = new Set<string>();
  let host = family === 4 ? '0.0.0.0' : '::';
  let backlog: number | undefined;
  for (const f of rest) {
    if (f.key === undefined) return `unexpected field '${f.value}' (options are written key=value; write a ':' inside a value as '\\:')`;
    if (seen.has(f.key)) return `option '${f.key}' is given twice`;
    seen.add(f.key);
    if (f.key === 'interface') {
      if (f.value === '') continue; // empty = all interfaces, as in Twisted
      if (family === 4 && !isIPv4(f.value)) {
        return isIPv6(f.value)
          ? `interface '${f.value}' is an IPv6 address; use tcp6: for IPv6`
          : `interface '${f.value}' is not an IPv4 address`;
      }
      if (family === 6 && !isIPv6(f.value)) {
        return isIP(f.value) === 4
          ? `interface '${f.value}' is an IPv4 address; use tcp: for IPv4`
          : `interface '${f.value}' is not an IPv6 address`;
      }
      host = f.value;
    } else if (f.key === 'backlog') {
      const n = /^[0-9]{1,6}$/.test(f.value) ? Number(f.value) : NaN;
      if (!(n >= 1 && n <= MAX_BACKLOG)) return `backlog '${f.value}' is not an integer from 1 to ${MAX_BACKLOG}`;
      backlog = n;
    } else {
      return `unknown option '${f.key}' (only interface and backlog are accepted)`;
    }
  }
  const ep: Endpoint = { family, port, host, text };
  if (backlog !== undefined) ep.backlog = backlog;
  return ep;
}

/** The full sentence for a rejected endpoint string. */
export function endpointProblem(text: string, reason: string): string {
  return `${JSON.stringify(text)} is not an endpoint${reason ? `: ${reason}` : ''}; use ${ENDPOINT_FORMS}`;
}

/** Parses an endpoint string or throws a ConfigError saying what is accepted. */
export function parseEndpoint(text: string): Endpoint {
  const ep = checkEndpoint(text);
  if (typeof ep === 'string') throw new ConfigError(endpointProblem(text, ep));
  return ep;
}

/** Writes an endpoint back in canonical form (interface always explicit). */
export function formatEndpoint(ep: Omit<Endpoint, 'text'>): string {
  const esc = (s: string) => s.replace(/[\\:=]/g, (c) => `\\${c}`);
  let out = `${ep.family === 4 ? 'tcp' : 'tcp6'}:${ep.port}:interface=${esc(ep.host)}`;
  if (ep.backlog !== undefined) out += `:backlog=${ep.backlog}`;
  return out;
}
