// Tahoe's `t=json` answers → typed nodes. A file is `["filenode", {ro_uri, rw_uri?, size?,
// mutable, format, metadata?}]`, a directory `["dirnode", {rw_uri?, ro_uri, mutable, children}]`
// with each child in the same shape plus its link metadata, an unknown cap `["unknown", {…}]`.
// Children of a read-only directory carry no rw_uri; unknown caps carry Tahoe's `ro.`/`imm.`
// prefixes. Mutable children are listed without a size (Tahoe only knows it after asking the
// servers, which a listing does not do).
import { GridError } from '../errors.js';
import { nodeInfoFromCap } from '../links.js';
import type { FileFormat, Metadata, NodeInfo } from '../types.js';

export type JsonNodeType = 'filenode' | 'dirnode' | 'unknown';

/** One node as the web-API describes it, caps exactly as sent (to link it again unchanged). */
export interface RawNode {
  type: JsonNodeType;
  rwUri?: string;
  roUri?: string;
  mutable?: boolean;
  size?: number;
  format?: string;
  /** Link metadata: present for children, and for a node reached through a directory path. */
  metadata?: Metadata;
}

export interface RawDirectory extends RawNode {
  type: 'dirnode';
  /** NFC name → child. */
  children: Map<string, RawNode>;
}

function bad(what: string): GridError {
  return new GridError('UNAVAILABLE', `unexpected answer from the Tahoe-LAFS node: ${what}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function optString(props: Record<string, unknown>, key: string): string | undefined {
  const v = props[key];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function rawNode(value: unknown): RawNode {
  if (!Array.isArray(value) || value.length !== 2 || typeof value[0] !== 'string' || !isObject(value[1])) {
    throw bad('a node is not a [type, {…}] pair');
  }
  const [typeText, props] = value as [string, Record<string, unknown>];
  const type: JsonNodeType = typeText === 'filenode' || typeText === 'dirnode' ? typeText : 'unknown';
  const node: RawNode = { type };
  const rw = optString(props, 'rw_uri');
  const ro = optString(props, 'ro_uri');
  if (rw !== undefined) node.rwUri = rw;
  if (ro !== undefined) node.roUri = ro;
  if (typeof props.mutable === 'boolean') node.mutable = props.mutable;
  if (typeof props.size === 'number' && Number.isSafeInteger(props.size) && props.size >= 0) node.size = props.size;
  if (typeof props.format === 'string') node.format = props.format;
  if (isObject(props.metadata)) node.metadata = props.metadata as Metadata;
  return node;
}

/** Parses the body of a `t=json` answer. */
export function parseNodeJson(text: string): RawNode | RawDirectory {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bad('t=json did not return JSON');
  }
  const node = rawNode(value);
  if (node.type !== 'dirnode') return node;
  const props = (value as [string, Record<string, unknown>])[1];
  if (!isObject(props.children)) throw bad('a directory without children');
  const children = new Map<string, RawNode>();
  for (const [name, child] of Object.entries(props.children)) children.set(name.normalize('NFC'), rawNode(child));
  return { ...node, type: 'dirnode', children };
}

function formatOf(text: string | undefined): FileFormat | undefined {
  return text === 'CHK' || text === 'SDMF' || text === 'MDMF' ? text : undefined;
}

/**
 * NodeInfo of a described node, with the same rules as the embedded store: the strongest cap
 * we were given, kinds and read-only-ness from the cap itself (so a cap Tahoe lists but we
 * cannot parse stays 'unknown', kept verbatim), the size Tahoe reports when the cap lacks it.
 */
export function nodeInfoFromRaw(raw: RawNode): NodeInfo {
  const capText = raw.rwUri ?? raw.roUri;
  if (raw.type === 'unknown' || capText === undefined) {
    return { kind: 'unknown', cap: capText ?? '', mutable: false, readOnly: true };
  }
  const info = nodeInfoFromCap(capText);
  if (info.kind === 'unknown') return info;
  // Tahoe's word on the kind wins over a mismatched cap only by refusing to guess.
  if ((raw.type === 'dirnode') !== (info.kind === 'dir')) return { kind: 'unknown', cap: capText, mutable: false, readOnly: true };
  if (info.size === undefined && raw.size !== undefined && info.kind === 'file') info.size = raw.size;
  if (info.kind === 'file' && info.format === undefined) {
    const f = formatOf(raw.format);
    if (f) info.format = f;
  }
  return info;
}

/** The caps to send back in t=set_children to link this node again as it is linked now. */
export function linkCapsOfRaw(raw: RawNode): { rwUri?: string; roUri?: string } {
  const out: { rwUri?: string; roUri?: string } = {};
  if (raw.rwUri !== undefined) out.rwUri = raw.rwUri;
  if (raw.roUri !== undefined) out.roUri = raw.roUri;
  return out;
}

/** True when the described node is a mutable file whose size a listing leaves out. */
export function needsSize(info: NodeInfo): boolean {
  return info.kind === 'file' && info.mutable && info.size === undefined;
}

/** The JSON node type to use in t=set_children for a cap (Tahoe itself looks only at the caps). */
export function jsonTypeOfCap(cap: string): JsonNodeType {
  const info = nodeInfoFromCap(cap);
  return info.kind === 'dir' ? 'dirnode' : info.kind === 'file' ? 'filenode' : 'unknown';
}
