// A Kafka broker of the test's own (single-node KRaft, from the distribution infra/ installs), with SASL
// listeners, so a test can reach Kafka through authentication without touching the shared broker.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { freePort } from './ports.ts';

const run = promisify(execFile);
const INFRA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'infra');

/**
 * Java and the Kafka distribution, found as infra/services/kafka.sh finds them (its KAFKA_HOME under the
 * infra cache, Java through lib/common.sh's find_java); installed with `infra.sh install kafka` when
 * missing (the test run's global setup installs it, unless it was given services from outside).
 */
const kafkaInstallation = async (): Promise<{ java: string; kafkaHome: string }> => {
  const locate = `source "$INFRA_DIR/lib/common.sh" && source "$INFRA_DIR/services/kafka.sh" || exit 2
    kafka_installed || exit 3
    find_java "$KAFKA_JAVA" || exit 4
    printf '%s\\n%s\\n' "$JAVA" "$KAFKA_HOME"`;
  const env = { ...process.env, INFRA_DIR: INFRA, REPO: dirname(INFRA) };
  const found = () => run('bash', ['-c', locate], { env });
  let out: string;
  try {
    out = (await found()).stdout;
  } catch (error) {
    if ((error as { code?: number }).code !== 3) throw error;
    await run('bash', [join(INFRA, 'infra.sh'), 'install', 'kafka'], { timeout: 900_000 });
    out = (await found()).stdout;
  }
  const [java, kafkaHome] = out.trim().split('\n');
  return { java: java!, kafkaHome: kafkaHome! };
};

/** a KRaft cluster id: 16 random bytes, base64url (what `kafka-storage.sh random-uuid` prints) */
const clusterId = () => `A${randomBytes(16).toString('base64url').slice(1, 22)}`;

export interface KafkaUser {
  mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
  username: string;
  password: string;
}

/** the users of the broker: one per SASL mechanism (SCRAM ones are added when its storage is formatted) */
export const KAFKA_USERS = {
  plain: { mechanism: 'plain', username: 'alice', password: 'alice-secret' },
  scram256: { mechanism: 'scram-sha-256', username: 'bob', password: 'bob-secret' },
  scram512: { mechanism: 'scram-sha-512', username: 'carol', password: 'carol-secret' },
} as const satisfies Record<string, KafkaUser>;

export interface OwnKafka {
  /** host:port of the SASL_PLAINTEXT listener */
  brokers: string;
  /** host:port of the SASL_SSL listener, when started with a certificate */
  tlsBrokers: string | undefined;
  /**
   * SIGSTOP: the broker hangs (connections stay open, nothing is answered) until `resume`; resolves once
   * the process is seen stopped
   */
  pause(): Promise<void>;
  /** SIGCONT after `pause` */
  resume(): void;
  stop(): Promise<void>;
  /** a crash: SIGKILL of the broker process, its data kept for `restart` */
  kill(): Promise<void>;
  /** starts the broker again on the same ports and data (after `kill`); resolves once it answers */
  restart(): Promise<void>;
}

const properties = (o: {
  dir: string;
  port: number;
  tlsPort: number | undefined;
  controllerPort: number;
  tls: { keystore: string; truststore: string } | undefined;
  /** clients' address of the SASL_PLAINTEXT listener (a proxy) and the brokers' own listener's port */
  proxied: { advertised: string; internalPort: number } | undefined;
}) => {
  const listeners = [`SASL_PLAINTEXT://127.0.0.1:${o.port}`];
  if (o.tlsPort) listeners.push(`SASL_SSL://127.0.0.1:${o.tlsPort}`);
  // behind a proxy, the broker reaches itself (transaction markers) on a listener of its own, so that
  // a fault of the proxy is one between the clients and the broker only
  const internal = o.proxied ? [`INTERNAL://127.0.0.1:${o.proxied.internalPort}`] : [];
  const advertised = o.proxied
    ? [`SASL_PLAINTEXT://${o.proxied.advertised}`, ...listeners.slice(1), ...internal]
    : listeners;
  const plainUsers = [
    ['broker', 'broker-secret'],
    [KAFKA_USERS.plain.username, KAFKA_USERS.plain.password],
  ]
    .map(([u, p]) => `user_${u}="${p}"`)
    .join(' ');
  const jaas = (listener: string) => [
    `listener.name.${listener}.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret" ${plainUsers};`,
    `listener.name.${listener}.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
    `listener.name.${listener}.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;`,
  ];
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${o.controllerPort}`,
    `listeners=${[...listeners, ...internal, `CONTROLLER://127.0.0.1:${o.controllerPort}`].join(',')}`,
    `advertised.listeners=${advertised.join(',')}`,
    'controller.listener.names=CONTROLLER',
    `inter.broker.listener.name=${o.proxied ? 'INTERNAL' : 'SASL_PLAINTEXT'}`,
    `listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL,${o.proxied ? 'INTERNAL:SASL_PLAINTEXT,' : ''}CONTROLLER:PLAINTEXT`,
    'sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512',
    'sasl.mechanism.inter.broker.protocol=PLAIN',
    ...jaas('sasl_plaintext'),
    ...(o.proxied ? jaas('internal') : []),
    ...(o.tls
      ? [
          ...jaas('sasl_ssl'),
          'ssl.keystore.type=PEM',
          `ssl.keystore.location=${o.tls.keystore}`,
          'ssl.truststore.type=PEM',
          `ssl.truststore.location=${o.tls.truststore}`,
        ]
      : []),
    `log.dirs=${join(o.dir, 'data')}`,
    'num.partitions=1',
    'auto.create.topics.enable=false',
    // a single node: the internal topics (offsets, transaction state) on it alone
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=3',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=3',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    // small: the machine is shared
    'num.network.threads=2',
    'num.io.threads=2',
    'background.threads=2',
    'log.cleaner.threads=1',
    '',
  ].join('\n');
};

const LOG4J = `rootLogger.level=WARN
rootLogger.appenderRef.out.ref=OUT
appender.out.type=Console
appender.out.name=OUT
appender.out.layout.type=PatternLayout
appender.out.layout.pattern=[%d] %p %m (%c)%n
`;

/** JVM options: a small heap and a quick start on a machine whose two cores are shared */
const JVM = [
  '-Xms128m',
  '-Xmx384m',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-Djava.awt.headless=true',
];

/**
 * Starts a single-node KRaft broker on free loopback ports in a temp dir, with a SASL_PLAINTEXT listener
 * (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512: the KAFKA_USERS) and, given a PEM key + certificate chain
 * (`tls.keystore`) and the CA to trust (`tls.truststore`), a SASL_SSL one. `stop` ends it and removes
 * the dir. `advertise`: given the SASL_PLAINTEXT listener's port, answers the host:port clients are told
 * to use instead (a Toxiproxy proxy in front of it), so that every client connection goes through it.
 */
export const startOwnKafka = async (
  options: {
    tls?: { keystore: string; truststore: string };
    advertise?: (port: number) => Promise<string>;
  } = {},
): Promise<OwnKafka> => {
  const { java, kafkaHome } = await kafkaInstallation();
  const dir = mkdtempSync(join(tmpdir(), 'lf-kafka-'));
  const [port, controllerPort, tlsPort, internalPort] = await Promise.all([
    freePort(),
    freePort(),
    options.tls ? freePort() : Promise.resolve(undefined),
    options.advertise ? freePort() : Promise.resolve(undefined),
  ]);
  const proxied =
    options.advertise && internalPort
      ? { advertised: await options.advertise(port!), internalPort }
      : undefined;
  const props = join(dir, 'server.properties');
  writeFileSync(
    props,
    properties({ dir, port: port!, tlsPort, controllerPort: controllerPort!, tls: options.tls, proxied }),
  );
  writeFileSync(join(dir, 'log4j2.properties'), LOG4J);
  const classpath = ['-cp', join(kafkaHome, 'libs', '*')];
  const logging = `-Dlog4j2.configurationFile=${join(dir, 'log4j2.properties')}`;
  const scram = [KAFKA_USERS.scram256, KAFKA_USERS.scram512].flatMap((u) => [
    '--add-scram',
    `${u.mechanism.toUpperCase()}=[name=${u.username},password=${u.password}]`,
  ]);
  let child: ChildProcess | undefined;
  const logFile = join(dir, 'broker.log');
  const killOnExit = () => child?.kill('SIGKILL');
  const clientAddress = proxied?.advertised ?? `127.0.0.1:${port}`;
  const launch = async () => {
    const out = openSync(logFile, 'a');
    child = spawn(java, [...JVM, logging, ...classpath, 'kafka.Kafka', props], {
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    process.once('exit', killOnExit);
    await untilReady(clientAddress, child, logFile);
  };
  const kill = async () => {
    const c = child;
    child = undefined;
    process.off('exit', killOnExit);
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    process.off('exit', killOnExit);
    if (c && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise((r) => c.once('exit', r));
      c.kill('SIGCONT'); // a paused broker handles SIGTERM only once it runs again
      c.kill('SIGTERM');
      const killer = setTimeout(() => c.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await run(
      java,
      [
        '-Xmx128m',
        logging,
        ...classpath,
        'kafka.tools.StorageTool',
        'format',
        '-t',
        clusterId(),
        '-c',
        props,
        '--standalone',
        ...scram,
      ],
      { timeout: 60_000 },
    );
    await launch();
  } catch (error) {
    const log = (() => {
      try {
        return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
      } catch {
        return '(no log)';
      }
    })();
    await stop();
    throw new Error(`the test's own Kafka did not start: ${(error as Error).message}\n${log}`);
  }
  return {
    brokers: clientAddress,
    tlsBrokers: tlsPort ? `127.0.0.1:${tlsPort}` : undefined,
    pause: async () => {
      const c = child!;
      c.kill('SIGSTOP');
      // every thread of the JVM stopped: the state field of /proc/<pid>/task/<tid>/stat (after the
      // command in parentheses) is T; a thread inside a system call stops when it leaves it
      const stopped = () =>
        readdirSync(`/proc/${c.pid}/task`).every((tid) =>
          /\) [Tt] /.test(readFileSync(`/proc/${c.pid}/task/${tid}/stat`, 'utf8')),
        );
      const giveUpAt = Date.now() + 5000;
      while (!stopped()) {
        if (Date.now() > giveUpAt) throw new Error(`the broker (pid ${c.pid}) did not stop`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    resume: () => child?.kill('SIGCONT'),
    stop,
    kill,
    restart: async () => {
      await kill();
      await launch();
    },
  };
};

/** waits until the broker answers an authenticated client and has its controller (a topic can be made) */
const untilReady = async (brokers: string, child: ChildProcess, logFile: string) => {
  const deadline = Date.now() + 90_000;
  const sasl: SASLOptions = { ...KAFKA_USERS.plain };
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the broker exited (${child.exitCode}); see ${logFile}`);
    const admin = new Kafka({
      brokers: [brokers],
      sasl,
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
      connectionTimeout: 1000,
    }).admin();
    try {
      await admin.connect();
      const { brokers: live } = await admin.describeCluster();
      if (live.length > 0) return;
    } catch {
      // not up yet
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (Date.now() > deadline) throw new Error('the broker did not answer within 90 s');
    await new Promise((r) => setTimeout(r, 500));
  }
};
