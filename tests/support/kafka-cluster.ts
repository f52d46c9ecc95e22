// The three-broker KRaft cluster of infra/ (`infra.sh up --brokers 3`, services/kafka-cluster.sh) for the
// fault tests: found (started when missing, except in CI, where .ci/run starts it), its brokers, which
// node leads a partition, and a node killed with SIGKILL and started again through infra.sh.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Admin, Kafka, logLevel } from 'kafkajs';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const INFRA = join(ROOT, 'infra', 'infra.sh');

/** the cluster's brokers as `infra.sh env --brokers 3` names them (host:port, one per node) */
export const clusterBrokers = async (): Promise<string[]> => {
  const { stdout } = await run('bash', [INFRA, 'env', '--brokers', '3']);
  const line = /^export LOGFRONT_KAFKA_BROKERS=(.+)$/m.exec(stdout);
  if (!line) throw new Error(`infra.sh env --brokers 3 printed no LOGFRONT_KAFKA_BROKERS:\n${stdout}`);
  return line[1]!.split(',');
};

/** the node ids of the live brokers the cluster's metadata lists (empty when none answers) */
export const liveBrokers = async (brokers: string[]): Promise<number[]> => {
  const admin = new Kafka({
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    retry: { retries: 1 },
  }).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.map((b) => b.nodeId).sort();
  } catch {
    return [];
  } finally {
    await admin.disconnect().catch(() => {});
  }
};

/** starts what is not running of the cluster (the nodes' data stays); resolves once each node answers */
export const startCluster = async () => {
  await run('bash', [INFRA, 'up', '--brokers', '3', 'kafka'], { timeout: 300_000 });
};

/**
 * The cluster's brokers once all three answer. Outside CI, a cluster that is not up is started (about
 * ten seconds); in CI it must be up already, or this fails saying so: .ci/run starts it.
 */
export const findCluster = async (): Promise<string[]> => {
  const brokers = await clusterBrokers();
  if ((await liveBrokers(brokers)).length === 3) return brokers;
  if (process.env.CI === 'true') {
    throw new Error(
      `the three-broker Kafka cluster is not up on ${brokers.join(',')} (found ${(await liveBrokers(brokers)).length} brokers): ` +
        'CI starts it before the tests (.ci/run: bash infra/infra.sh up --brokers 3 kafka)',
    );
  }
  await startCluster();
  const deadline = Date.now() + 60_000;
  while ((await liveBrokers(brokers)).length < 3) {
    if (Date.now() > deadline) {
      throw new Error(
        `the three-broker Kafka cluster on ${brokers.join(',')} did not list 3 brokers in 60 s`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return brokers;
};

/** the node id of the broker leading `partition` of `topic` */
export const leaderOf = async (admin: Admin, topic: string, partition: number): Promise<number> => {
  const meta = await admin.fetchTopicMetadata({ topics: [topic] });
  const p = meta.topics[0]!.partitions.find((x) => x.partitionId === partition);
  if (!p || p.leader < 0) throw new Error(`${topic}/${partition} has no leader`);
  return p.leader;
};

/** infra's directory of pid files (`$RUN` of infra/lib/common.sh: LOGFRONT_INFRA_STATE or <repo>/.infra) */
const runDir = async () => {
  const { stdout } = await run('bash', ['-c', 'source "$INFRA_DIR/lib/common.sh" && printf %s "$RUN"'], {
    env: { ...process.env, INFRA_DIR: join(ROOT, 'infra'), REPO: ROOT },
  });
  return stdout;
};

/**
 * The pid of node `n` (kafka<n>), from infra's pid file, checked against the process's command line (a
 * pid file of a node that is gone may name another process by now).
 */
export const nodePid = async (n: number): Promise<number> => {
  const file = join(await runDir(), `kafka${n}.pid`);
  let pid: number;
  try {
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    throw new Error(
      `no pid file ${file}: the cluster was not started from this checkout's infra state (bash infra/infra.sh up --brokers 3 kafka)`,
    );
  }
  const cmdline = (() => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      return '';
    }
  })();
  if (!cmdline.includes(`logfront.infra=kafka${n} `)) {
    throw new Error(`${file} names pid ${pid}, which is not the running node kafka${n}`);
  }
  return pid;
};

/** SIGKILL to node `n`; resolves once its process is gone */
export const killNode = async (n: number): Promise<number> => {
  const pid = await nodePid(n);
  process.kill(pid, 'SIGKILL');
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return pid;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
};

/**
 * Waits until every partition of `topic` has all its replicas in sync again (a restarted node has
 * caught up), up to `timeoutMs`; resolves with the time that took.
 */
export const untilInSync = async (admin: Admin, topic: string, timeoutMs = 120_000) => {
  const started = Date.now();
  for (;;) {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
    const partitions = meta?.topics[0]?.partitions ?? [];
    if (partitions.length > 0 && partitions.every((p) => p.isr.length === p.replicas.length)) {
      return Date.now() - started;
    }
    if (Date.now() - started > timeoutMs) {
      throw new Error(`${topic}: not every replica back in sync within ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
};
