// What the chaos run (bench/chaos.ts) stands on: a Kafka broker, a Postgres and a Redis of its own (so
// it may kill, crash and empty them), a Toxiproxy proxy in front of every dependency (the broker advertises its proxy, so
// every client connection goes through it), and the `logfront serve` processes that use the proxies.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { KAFKA_USERS, type OwnKafka, startOwnKafka } from '../tests/support/kafka-server.ts';
import { type OwnPostgres, startOwnPostgres } from '../tests/support/postgres-server.ts';
import { startOwnRedis } from '../tests/support/redis-server.ts';
import { createProxy, type ToxicProxy, throughProxy } from '../tests/support/toxiproxy.ts';
import { ROOT } from './harness.ts';

export const DEPENDENCIES = ['kafka', 'postgres', 'redis', 's3', 'schema-registry'] as const;
export type ChaosDependency = (typeof DEPENDENCIES)[number];

const hostPort = (url: string) => new URL(url).host;
/** `url` through `proxy`, without the trailing slash URL adds to a bare origin */
const via = (url: string, proxy: ToxicProxy) => throughProxy(url, proxy).replace(/\/$/, '');

export interface ChaosEnv {
  proxies: Record<ChaosDependency, ToxicProxy>;
  broker: OwnKafka;
  postgres: OwnPostgres;
  redis: Awaited<ReturnType<typeof startOwnRedis>>;
  /** the variables a `logfront serve` of the run gets: every service through its proxy */
  serveEnv: Record<string, string>;
  close(): Promise<void>;
}

/** the broker, the Postgres, the Redis and the proxies; `services` are the shared services' variables (infra env) */
export const startChaosEnv = async (services: Record<string, string>, name: string): Promise<ChaosEnv> => {
  const toxiproxy = services.LOGFRONT_TOXIPROXY_URL;
  if (!toxiproxy) throw new Error('LOGFRONT_TOXIPROXY_URL is not set: the chaos run needs Toxiproxy');
  const made: ToxicProxy[] = [];
  const proxy = async (upstream: string) => {
    const p = await createProxy(upstream, toxiproxy);
    made.push(p);
    return p;
  };
  let broker: OwnKafka | undefined;
  let postgres: OwnPostgres | undefined;
  let redis: ChaosEnv['redis'] | undefined;
  const close = async () => {
    await broker?.stop().catch(() => undefined);
    await redis?.remove().catch(() => undefined);
    await postgres?.remove().catch(() => undefined);
    for (const p of made) await p.remove().catch(() => undefined);
  };
  try {
    let kafkaProxy: ToxicProxy | undefined;
    broker = await startOwnKafka({
      advertise: async (port) => {
        kafkaProxy = await proxy(`127.0.0.1:${port}`);
        return kafkaProxy.listen;
      },
    });
    redis = await startOwnRedis();
    postgres = await startOwnPostgres();
    const proxies: Record<ChaosDependency, ToxicProxy> = {
      kafka: kafkaProxy!,
      postgres: await proxy(`127.0.0.1:${postgres.port}`),
      redis: await proxy(`127.0.0.1:${redis.port}`),
      s3: await proxy(hostPort(services.LOGFRONT_S3_ENDPOINT!)),
      'schema-registry': await proxy(hostPort(services.LOGFRONT_SCHEMA_REGISTRY_URL!)),
    };
    const { LOGFRONT_CONFIG: _userConfig, ...inherited } = process.env;
    const serveEnv: Record<string, string> = {
      ...(Object.fromEntries(Object.entries(inherited).filter(([, v]) => v !== undefined)) as Record<
        string,
        string
      >),
      ...services,
      LOGFRONT_MODE: 'services',
      LOGFRONT_KAFKA_BROKERS: broker.brokers,
      LOGFRONT_KAFKA_SASL_MECHANISM: KAFKA_USERS.plain.mechanism,
      LOGFRONT_KAFKA_SASL_USERNAME: KAFKA_USERS.plain.username,
      LOGFRONT_KAFKA_SASL_PASSWORD: KAFKA_USERS.plain.password,
      LOGFRONT_DATABASE_URL: via(postgres.url, proxies.postgres),
      LOGFRONT_REDIS_URL: via(redis.url, proxies.redis),
      LOGFRONT_S3_ENDPOINT: via(services.LOGFRONT_S3_ENDPOINT!, proxies.s3),
      LOGFRONT_SCHEMA_REGISTRY_URL: via(services.LOGFRONT_SCHEMA_REGISTRY_URL!, proxies['schema-registry']),
      LOGFRONT_TOPIC_PREFIX: name,
      LOGFRONT_DATABASE_SCHEMA: name,
      LOGFRONT_REDIS_PREFIX: `${name}:`,
      LOGFRONT_LOG_LEVEL: process.env.LOGFRONT_LOG_LEVEL ?? 'error',
      LOGFRONT_HOST: '127.0.0.1',
      LOGFRONT_PORT: '0',
      LOGFRONT_RUNNERS: 'on',
      LOGFRONT_AUTH: 'none',
      ...(process.env.LOGFRONT_KEK ? { LOGFRONT_KEK: process.env.LOGFRONT_KEK } : {}),
    };
    return { proxies, broker, postgres, redis, serveEnv, close };
  } catch (error) {
    await close();
    throw error;
  }
};

/** a `logfront serve` process; `exited` resolves with its exit code or signal when it ends */
export interface ServeProcess {
  url: string;
  child: ChildProcess;
  exited: Promise<string>;
  /** the last lines it wrote to stderr (what it said before it died) */
  tail: string[];
  stop(): Promise<void>;
  kill(): Promise<void>;
}

export const startServe = async (env: Record<string, string>): Promise<ServeProcess> => {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'logfront.js'), 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line.slice(0, 500));
    if (tail.length > 40) tail.shift();
    if (process.env.CHAOS_VERBOSE === '1') process.stderr.write(`  serve ${child.pid} | ${line}\n`);
  };
  createInterface({ input: child.stderr! }).on('line', keep);
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? `exit ${code}`)),
  );
  const ended = () => child.exitCode !== null || child.signalCode !== null;
  const kill = async () => {
    if (ended()) return;
    child.kill('SIGKILL');
    await exited;
  };
  const stop = async () => {
    if (ended()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  };
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('logfront serve did not start within 120 s')), 120_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /serving on (http:\/\/\S+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      } else keep(line);
    });
    void exited.then((how) => {
      clearTimeout(timer);
      reject(new Error(`logfront serve ended (${how}) before it served: ${tail.slice(-5).join(' | ')}`));
    });
  }).catch(async (error) => {
    await kill();
    throw error;
  });
  return { url, child, exited, tail, stop, kill };
};
