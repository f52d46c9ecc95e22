import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Compose {
  services: Record<
    string,
    { image: string; ports?: string[]; environment?: Record<string, string> | string[] }
  >;
  'x-logfront-env': Record<string, string>;
}

const provisionerEnv = () =>
  Object.fromEntries(
    execFileSync('bash', [join(ROOT, 'infra', 'infra.sh'), 'env'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /^export ([A-Z0-9_]+)=(.*)$/.exec(l.trim()))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!, m[2]!.replace(/^['"]|['"]$/g, '')]),
  );

const portOf = (address: string) => Number(/:(\d+)(\/|$)/.exec(address)?.[1]);

describe('docker-compose.yml matches the provisioner', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as Compose;
  const env = provisionerEnv();

  it('declares the same services', () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      'kafka',
      'postgres',
      'redis',
      'registry',
      's3',
      'toxiproxy',
    ]);
  });

  it('declares exactly the variables the provisioner exports, with the same values', () => {
    expect(compose['x-logfront-env']).toEqual(env);
  });

  it('publishes each service on the port its variable names, on loopback only', () => {
    const published = (service: string) =>
      (compose.services[service]?.ports ?? []).map((p) => {
        expect(p.startsWith('127.0.0.1:'), `${service} ${p}`).toBe(true);
        return Number(p.split(':')[1]);
      });
    expect(published('kafka')).toContain(portOf(env.LOGFRONT_KAFKA_BROKERS!));
    expect(published('registry')).toContain(portOf(env.LOGFRONT_SCHEMA_REGISTRY_URL!));
    expect(published('postgres')).toContain(portOf(env.LOGFRONT_DATABASE_URL!));
    expect(published('redis')).toContain(portOf(env.LOGFRONT_REDIS_URL!));
    expect(published('s3')).toContain(portOf(env.LOGFRONT_S3_ENDPOINT!));
    expect(published('toxiproxy')).toContain(portOf(env.LOGFRONT_TOXIPROXY_URL!));
  });

  it('gives the containers the credentials the variables carry', () => {
    const envOf = (service: string) => {
      const e = compose.services[service]?.environment ?? {};
      return Array.isArray(e) ? Object.fromEntries(e.map((x) => x.split('=', 2) as [string, string])) : e;
    };
    const db = new URL(env.LOGFRONT_DATABASE_URL!);
    expect(envOf('postgres')).toMatchObject({
      POSTGRES_USER: db.username,
      POSTGRES_PASSWORD: db.password,
      POSTGRES_DB: db.pathname.slice(1),
    });
    expect(envOf('s3')).toMatchObject({
      ROOT_ACCESS_KEY: env.AWS_ACCESS_KEY_ID,
      ROOT_SECRET_KEY: env.AWS_SECRET_ACCESS_KEY,
    });
  });
});
