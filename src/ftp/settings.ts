// [ftpd] in tahoe.cfg → the listener, TLS and limit options of startFtpServer, so the server
// wiring adds only what it owns (accounts, defender, sessions, logger, [auth] limits).
import { readFile } from 'node:fs/promises';
import type { FtpdConfig } from '../config/index.js';
import type { FtpLimits, FtpServerOptions } from './types.js';

export type FtpSettings = Pick<FtpServerOptions, 'host' | 'port' | 'backlog' | 'implicit' | 'tls' | 'tlsMode' | 'tlsRequireSessionReuse' | 'passivePorts' | 'passiveAddress'> & {
  limits: Partial<FtpLimits>;
};

async function readPem(path: string, key: string, kind: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`[ftpd] ${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  if (!text.includes(`-----BEGIN ${kind}`) && !(kind === 'PRIVATE KEY' && /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text))) {
    throw new Error(`[ftpd] ${key}: ${path} holds no PEM ${kind.toLowerCase()}`);
  }
  return text;
}

/** Reads the certificate files the config names; errors name the key and the file. */
export async function ftpSettings(f: FtpdConfig): Promise<FtpSettings> {
  const out: FtpSettings = { host: f.port.host, port: f.port.port, limits: {} };
  if (f.port.backlog !== undefined) out.backlog = f.port.backlog;
  if (f.tlsCertFile !== undefined && f.tlsKeyFile !== undefined) {
    out.tls = {
      certPem: await readPem(f.tlsCertFile, 'tls_cert_file', 'CERTIFICATE'),
      keyPem: await readPem(f.tlsKeyFile, 'tls_key_file', 'PRIVATE KEY'),
    };
  }
  if (f.tls !== undefined) out.tlsMode = f.tls;
  out.tlsRequireSessionReuse = f.tlsRequireSessionReuse;
  if (f.implicitPort !== undefined) out.implicit = { host: f.implicitPort.host, port: f.implicitPort.port };
  if (f.passivePorts !== undefined) out.passivePorts = f.passivePorts;
  if (f.passiveAddress !== undefined) out.passiveAddress = f.passiveAddress;
  if (f.idleTimeout !== undefined) out.limits.idleTimeoutMs = f.idleTimeout;
  if (f.dataTimeout !== undefined) out.limits.dataTimeoutMs = f.dataTimeout;
  return out;
}
