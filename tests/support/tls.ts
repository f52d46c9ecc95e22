// Certificates for TLS tests, made with openssl in a temp dir (no key is kept in the repository): a CA,
// a server certificate for 127.0.0.1 and localhost and a client certificate it signed, and another CA
// that signed neither (what a client trusting the wrong CA has).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { promisify } from 'node:util';

const run = promisify(execFile);
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export interface Certificates {
  dir: string;
  /** files (PEM) */
  caFile: string;
  otherCaFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  /** the server's key, then its certificate: a Kafka PEM keystore */
  serverBundleFile: string;
  clientCertFile: string;
  clientKeyFile: string;
  read(file: string): string;
  remove(): void;
}

export const makeCertificates = async (): Promise<Certificates> => {
  const dir = mkdtempSync(join(tmpdir(), 'lf-tls-'));
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => run('openssl', args, { cwd: dir, timeout: 30_000 });
  const ca = async (name: string) =>
    openssl(
      'req',
      '-x509',
      ...EC,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=logfront test ${name}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
  const signed = async (name: string, extensions: string) => {
    writeFileSync(at(`${name}.ext`), extensions);
    await openssl('req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    await openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  };
  try {
    await Promise.all([ca('ca'), ca('other-ca')]);
    await signed(
      'server',
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
    );
    await signed('client', 'extendedKeyUsage=clientAuth\n');
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  writeFileSync(
    at('server-bundle.pem'),
    readFileSync(at('server.key'), 'utf8') + readFileSync(at('server.pem')),
  );
  return {
    dir,
    caFile: at('ca.pem'),
    otherCaFile: at('other-ca.pem'),
    serverCertFile: at('server.pem'),
    serverKeyFile: at('server.key'),
    serverBundleFile: at('server-bundle.pem'),
    clientCertFile: at('client.pem'),
    clientKeyFile: at('client.key'),
    read: (file) => readFileSync(file, 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
};

/**
 * A TLS front of a plain TCP service (a TLS-terminating proxy): `https://127.0.0.1:<port>` in front of a
 * plain HTTP server, with the server certificate. What reaches the service is the same bytes, so an S3
 * signature (over the Host header) still holds.
 */
export const startTlsFront = async (target: { host: string; port: number }, certs: Certificates) => {
  const open = new Set<Socket>();
  const server = createTlsServer(
    { key: certs.read(certs.serverKeyFile), cert: certs.read(certs.serverCertFile) },
    (client) => {
      const upstream = connect(target.port, target.host);
      open.add(client);
      open.add(upstream);
      client.pipe(upstream).pipe(client);
      const end = () => {
        client.destroy();
        upstream.destroy();
        open.delete(client);
        open.delete(upstream);
      };
      client.on('error', end);
      upstream.on('error', end);
      client.on('close', end);
      upstream.on('close', end);
    },
  );
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of open) socket.destroy();
      }),
  };
};
