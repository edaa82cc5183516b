// The lab CA, the one server certificate for every lab name, the identities' client certificates, and CA trust.
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { labRoot } from '../lab';
import { say } from './log';
import { run, writeIfChanged } from './proc';

export const caDir = path.join(labRoot, 'ca');
export const caFile = path.join(caDir, 'ca.crt');
const caKeyFile = path.join(caDir, 'ca.key');
export const tlsDir = path.join(labRoot, 'tls');
export const serverCertFile = path.join(tlsDir, 'server.crt');
export const serverKeyFile = path.join(tlsDir, 'server.key');
export const identitiesDir = path.join(labRoot, 'identities');

const systemCaFile = '/usr/local/share/ca-certificates/container-release-lab.crt';
const systemBundle = '/etc/ssl/certs/ca-certificates.crt';
const renewWithinMs = 30 * 24 * 3600 * 1000;

function opensslConfig(commonName: string, extensions: string): string {
  const file = path.join(caDir, `openssl-${randomBytes(4).toString('hex')}.cnf`);
  writeFileSync(file, `[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = ${commonName}\n[ext]\n${extensions}\n`);
  return file;
}

function loadCertificate(file: string): X509Certificate | undefined {
  try {
    return new X509Certificate(readFileSync(file));
  } catch {
    return undefined;
  }
}

function fresh(certificate: X509Certificate): boolean {
  return new Date(certificate.validTo).getTime() - Date.now() > renewWithinMs;
}

/** Creates the lab CA unless a valid one exists. True when it created one. */
export function ensureCa(): boolean {
  mkdirSync(caDir, { recursive: true, mode: 0o700 });
  const current = loadCertificate(caFile);
  if (current && current.ca && fresh(current) && existsSync(caKeyFile)) return false;
  say('tls: creating the lab CA');
  const config = opensslConfig(
    'container-release-lab CA',
    'basicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash',
  );
  try {
    run([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-sha256',
      '-nodes',
      '-days',
      '3650',
      '-config',
      config,
      '-extensions',
      'ext',
      '-keyout',
      caKeyFile,
      '-out',
      caFile,
    ]);
  } finally {
    rmSync(config, { force: true });
  }
  chmodSync(caKeyFile, 0o600);
  rmSync(serverCertFile, { force: true }); // signed by the old CA
  return true;
}

function coversNames(certificate: X509Certificate, names: string[]): boolean {
  const entries = (certificate.subjectAltName ?? '').split(',').map((entry) => entry.trim());
  return names.every((name) => entries.includes(`DNS:${name}`)) && entries.includes('IP Address:127.0.0.1');
}

/** One server certificate for every lab name (and 127.0.0.1), signed by the lab CA. */
export function ensureServerCertificate(names: string[]): boolean {
  const ca = loadCertificate(caFile);
  if (!ca) throw new Error('the lab CA is missing');
  const current = loadCertificate(serverCertFile);
  if (
    current &&
    existsSync(serverKeyFile) &&
    fresh(current) &&
    current.checkIssued(ca) &&
    current.verify(ca.publicKey) &&
    coversNames(current, names)
  ) {
    return false;
  }
  say(`tls: issuing the server certificate for ${names.join(', ')}`);
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 });
  const csr = path.join(tlsDir, 'server.csr');
  const config = opensslConfig(
    'container-release-lab',
    [
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage = serverAuth',
      'subjectKeyIdentifier = hash',
      'authorityKeyIdentifier = keyid',
      `subjectAltName = ${[...names.map((name) => `DNS:${name}`), 'IP:127.0.0.1'].join(',')}`,
    ].join('\n'),
  );
  try {
    run(['openssl', 'req', '-new', '-newkey', 'rsa:2048', '-nodes', '-config', config, '-keyout', serverKeyFile, '-out', csr]);
    run([
      'openssl',
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      caFile,
      '-CAkey',
      caKeyFile,
      '-set_serial',
      `0x${randomBytes(12).toString('hex')}`,
      '-days',
      '825',
      '-sha256',
      '-extfile',
      config,
      '-extensions',
      'ext',
      '-out',
      serverCertFile,
    ]);
  } finally {
    rmSync(config, { force: true });
    rmSync(csr, { force: true });
  }
  chmodSync(serverKeyFile, 0o600);
  return true;
}

/** A self-signed client certificate + private key in one PEM per app identity (ClientCertificateCredential's input). */
export function ensureIdentityCertificate(identity: string): string {
  mkdirSync(identitiesDir, { recursive: true, mode: 0o700 });
  const pem = path.join(identitiesDir, `${identity}.pem`);
  const current = loadCertificate(pem);
  if (current && fresh(current) && readFileSync(pem, 'utf8').includes('PRIVATE KEY-----')) return pem;
  say(`tls: creating the client certificate of identity ${identity}`);
  const key = path.join(identitiesDir, `${identity}.key.tmp`);
  const certificate = path.join(identitiesDir, `${identity}.crt.tmp`);
  const config = opensslConfig(
    `${identity}.identities.lab.test`,
    'basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature',
  );
  try {
    run([
      'openssl',
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-sha256',
      '-nodes',
      '-days',
      '3650',
      '-config',
      config,
      '-extensions',
      'ext',
      '-keyout',
      key,
      '-out',
      certificate,
    ]);
    writeFileSync(pem, readFileSync(key, 'utf8') + readFileSync(certificate, 'utf8'), { mode: 0o600 });
  } finally {
    for (const file of [config, key, certificate]) rmSync(file, { force: true });
  }
  return pem;
}

/**
 * Trust the CA: docker per registry name (certs.d) and the system store (BuildKit's and containerd's token
 * requests only trust that). True when the system store changed, which means dockerd must be (re)started after.
 */
export function installCaTrust(registryNames: string[]): boolean {
  const ca = readFileSync(caFile, 'utf8');
  for (const name of registryNames) {
    const dir = path.join('/etc/docker/certs.d', name);
    mkdirSync(dir, { recursive: true });
    writeIfChanged(path.join(dir, 'ca.crt'), ca);
  }
  mkdirSync(path.dirname(systemCaFile), { recursive: true });
  const fileChanged = writeIfChanged(systemCaFile, ca, 0o644);
  const bundle = existsSync(systemBundle) ? readFileSync(systemBundle, 'utf8') : '';
  if (!fileChanged && bundle.includes(ca.trim())) return false;
  say('tls: adding the lab CA to the system store (update-ca-certificates)');
  run(['update-ca-certificates']);
  return true;
}

/** Takes the CA trust back: the certs.d entries of the lab's names and the system store's copy (purge). */
export function removeCaTrust(registryNames: string[]): void {
  for (const name of registryNames) {
    const dir = path.join('/etc/docker/certs.d', name);
    if (!existsSync(dir)) continue;
    rmSync(path.join(dir, 'ca.crt'), { force: true });
    if (readdirSync(dir).length === 0) rmdirSync(dir);
    say(`tls: removed ${dir}/ca.crt`);
  }
  for (const dir of ['/etc/docker/certs.d', '/etc/docker']) if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir);
  if (existsSync(systemCaFile)) {
    rmSync(systemCaFile);
    say('tls: removing the lab CA from the system store (update-ca-certificates)');
    run(['update-ca-certificates']);
  }
}
