// A self-signed certificate for FTPS, made by `lafsd init`.
//
// Why the openssl command rather than an npm package: node:crypto can make keys but not X.509
// certificates, and the packages that can (selfsigned, @peculiar/x509, node-forge) would add a
// dependency tree to audit for a step that runs once per node. The openssl CLI is installed
// wherever Node's own TLS is (Debian/Ubuntu/RHEL/macOS/Alpine base images ship it); when it is
// missing we say so and how to provide a certificate instead.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

/** ECDSA P-256, SHA-256, valid ten years, CN and subjectAltName from `commonName`. */
export async function generateSelfSignedCert(commonName: string, opts: { days?: number; openssl?: string } = {}): Promise<CertificatePair> {
  if (!/^[A-Za-z0-9.*:_-]{1,253}$/.test(commonName)) {
    throw new Error(`generateSelfSignedCert: ${JSON.stringify(commonName)} is not a host name or address`);
  }
  const isIp = /^[0-9.]+$/.test(commonName) || commonName.includes(':');
  const dir = await mkdtemp(join(tmpdir(), 'lafsd-cert-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  try {
    await run(opts.openssl ?? 'openssl', [
      'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-sha256',
      '-days', String(opts.days ?? 3650),
      '-subj', `/CN=${commonName}`,
      '-addext', `subjectAltName=${isIp ? 'IP' : 'DNS'}:${commonName}`,
      '-keyout', keyFile, '-out', certFile,
    ], { timeout: 30_000 });
    return { certPem: await readFile(certFile, 'utf8'), keyPem: await readFile(keyFile, 'utf8') };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error('cannot make an FTPS certificate: the `openssl` command is not installed. Install OpenSSL, or put a PEM certificate and key in place and set [ftpd] tls_cert_file and tls_key_file.', { cause: err });
    }
    throw new Error(`cannot make an FTPS certificate: openssl failed: ${(e.stderr ?? e.message).trim()}`, { cause: err });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
