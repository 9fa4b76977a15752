export { ConfigError } from './errors.js';
export { parseIni, readIni, type IniDocument, type IniSection, type IniValue } from './ini.js';
export { parseEndpoint, checkEndpoint, formatEndpoint, ENDPOINT_FORMS, type Endpoint } from './endpoint.js';
export type { MaxStartups, PortRange, ValueType, ValueContext, Parsed } from './types.js';
export {
  SCHEMA, TAHOE_SECTIONS, TAHOE_SECTION_PREFIXES, isTahoeSection, listenerEndpoints, opt,
  type OptionSpec, type SectionConfig, type SchemaConfig, type SectionName,
} from './schema.js';
export { loadNodeConfig, parseNodeConfig, CONFIG_FILE, type NodeConfig } from './load.js';
export { renderConfigReference, renderDefaultConfig, type DefaultConfigOptions } from './render.js';

import type { NodeConfig } from './load.js';
export type LafsdConfig = NodeConfig['lafsd'];
export type SftpdConfig = NodeConfig['sftpd'];
export type FtpdConfig = NodeConfig['ftpd'];
export type AuthConfig = NodeConfig['auth'];
