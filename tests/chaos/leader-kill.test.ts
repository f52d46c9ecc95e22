// A partition leader killed with SIGKILL under load, on the three-broker KRaft cluster of infra/
// (`infra.sh up --brokers 3`): topics with replication 3 and min.insync.replicas 2, appends with acks=all.
// Several appenders write their own streams with real expected versions and send an append that failed
// again with the same event ids until it is acknowledged. The broker leading a written partition is
// killed, the appends go on against the two left, then the node is started again. Then: every
// acknowledged event is in the log exactly once, at the version it was acknowledged with, versions are
// contiguous per stream, and appends to the killed leader's partitions succeeded again before the node
// came back, without logfront being restarted.
import { ConfigResourceTypes, ConfigSource, Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogfront, type Logfront } from '../../app/compose.ts';
import type { Config } from '../../app/config.ts';
import { VersionConflict } from '../../core/errors.ts';
import { uuidv7 } from '../../core/log/ids.ts';
import { decodePositions } from '../../core/read/positions.ts';
import { testDomain } from '../support/domain.ts';
import {
  findCluster,
  killNode,
  leaderOf,
  liveBrokers,
  startCluster,
  untilInSync,
} from '../support/kafka-cluster.ts';
import { readAll } from '../support/log-reader.ts';
import { orderPlaced, orderShipped } from '../support/orders.ts';
import { removeOwnData } from '../support/own-data.ts';
import { services, servicesConfig, waitFor } from '../support/services.ts';

const APPENDERS = 6;
const STREAMS_PER_APPENDER = 4;
/** appends before the kill: every partition has its sequencer and its leader */
const WARMUP_MS = 4000;
/**
 * the longest the killed node stays down while the appends to the partitions it led have not resumed
 * (Kafka fences it after 9 s; the sequencer's producers then wait out a back-off of up to 30 s)
 */
const MAX_DOWN_MS = 60_000;
/** appends against the two brokers left once they have resumed, before the node is started again */
const STILL_DOWN_MS = 10_000;
/** appends once the node is back */
const AFTER_RESTART_MS = 4000;
/** how long an append that keeps failing is sent again once the load stops */
const DRAIN_MS = 90_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Ack {
  stream: string;
  ids: string[];
  fromVersion: number;
  toVersion: number;
  partition: number;
  sentAt: number;
  ackedAt: number;
  /** how many times it failed before it was acknowledged */
  failures: number;
}

describe('a partition leader killed under load (three-broker cluster)', () => {
  let config: Config;
  let lf: Logfront;
  let admin: ReturnType<Kafka['admin']>;

  beforeAll(async () => {
    const brokers = await findCluster();
    config = servicesConfig({
      LOGFRONT_KAFKA_BROKERS: brokers.join(','),
      LOGFRONT_TOPIC_REPLICATION: '3',
      LOGFRONT_LOG_LEVEL: 'error',
    });
    admin = new Kafka({ brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    lf = await createLogfront(config, { domain: testDomain });
  }, 180_000);

  afterAll(async () => {
    await lf?.close();
    await admin?.disconnect();
    // whatever happened, the cluster is left whole for the next run
    if (config && (await liveBrokers(config.kafka.brokers)).length < 3) await startCluster();
    if (config) await removeOwnData(config, services().LOGFRONT_SCHEMA_REGISTRY_URL);
  }, 300_000);

  it('loses no acknowledged event, repeats none, keeps versions contiguous, and appends resume without a restart', async () => {
    const topic = lf.log.topicFor('order');
    const acks: Ack[] = [];
    const conflicts: string[] = [];
    const errors = new Map<string, number>();
    /** the first message of each error code, to tell where a failure came from */
    const samples = new Map<string, string>();
    const unresolved: { stream: string; ids: string[] }[] = [];
    /** the appends sent and not answered yet, by stream */
    const pending = new Map<string, string[]>();
    let running = true;
    let drainUntil = Number.POSITIVE_INFINITY;

    // one appender writes its own streams: its expected versions are the truth, and a failed append is
    // sent again as it was (same ids, same expected version) until it is acknowledged
    const appender = async (a: number) => {
      const streams = Array.from({ length: STREAMS_PER_APPENDER }, (_, i) => ({
        name: `order-${config.topicPrefix}a${a}s${i}`,
        version: 0,
      }));
      for (let n = 0; running; n++) {
        const s = streams[n % streams.length]!;
        const orderId = s.name.slice('order-'.length);
        const count = 1 + (n % 3 === 0 ? 1 : 0);
        const events = Array.from({ length: count }, (_, k) => ({
          id: uuidv7(),
          ...(s.version === 0 && k === 0 ? orderPlaced(orderId) : orderShipped(orderId)),
        }));
        const request = { events, expectedVersion: s.version === 0 ? 'no_stream' : s.version };
        const sentAt = Date.now();
        for (let failures = 0; ; failures++) {
          try {
            pending.set(
              s.name,
              events.map((e) => e.id),
            );
            const r = await lf.append.appendToStream(s.name, request);
            pending.delete(s.name);
            acks.push({
              stream: s.name,
              ids: events.map((e) => e.id),
              fromVersion: r.fromVersion,
              toVersion: r.toVersion,
              partition: decodePositions(r.position)[0]!.partition,
              sentAt,
              ackedAt: Date.now(),
              failures,
            });
            s.version = r.toVersion;
            break;
          } catch (error) {
            pending.delete(s.name);
            if (error instanceof VersionConflict) {
              // only this appender writes the stream: a conflict means an earlier append of it went
              // in without its acknowledgement, or twice
              conflicts.push(`${s.name}: ${error.message}`);
              return;
            }
            const code = (error as { code?: string }).code ?? (error as Error).name;
            errors.set(code, (errors.get(code) ?? 0) + 1);
            if (!samples.has(code)) samples.set(code, (error as Error).message);
            if (Date.now() > drainUntil) {
              unresolved.push({ stream: s.name, ids: events.map((e) => e.id) });
              return;
            }
            await sleep(50 + Math.random() * 100);
          }
        }
      }
    };

    const loops = Array.from({ length: APPENDERS }, (_, a) => appender(a));
    await sleep(WARMUP_MS);
    // every partition written (a slow machine may take longer than the warm-up to get there)
    await waitFor(async () => new Set(acks.map((x) => x.partition)).size === config.kafka.partitions, 60_000);

    // the topic as logfront made it on the cluster
    const meta = await admin.fetchTopicMetadata({ topics: [topic] });
    for (const p of meta.topics[0]!.partitions) expect(p.replicas).toHaveLength(3);
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['min.insync.replicas'] }],
    });
    // on the topic itself (the cluster's brokers default to 2 as well)
    expect(described.resources[0]!.configEntries[0]).toMatchObject({
      configName: 'min.insync.replicas',
      configValue: '2',
      configSource: ConfigSource.TOPIC_CONFIG,
    });

    const victim = await leaderOf(admin, topic, 0);
    // killing the active controller too means a controller election before the node is fenced
    const controllerKilled = (await admin.describeCluster()).controller === victim;
    const now = await admin.fetchTopicMetadata({ topics: [topic] });
    const led = now.topics[0]!.partitions.filter((p) => p.leader === victim).map((p) => p.partitionId);
    const acksBeforeKill = acks.length;
    // from the moment its process is gone: an append sent after this cannot have reached it
    const pid = await killNode(victim);
    const killedAt = Date.now();
    // resumed without the node: acknowledged appends to the partitions it led, sent after the kill
    const resumed = (x: Ack) => led.includes(x.partition) && x.sentAt >= killedAt;
    if (
      await waitFor(async () => acks.some(resumed), MAX_DOWN_MS).then(
        () => true,
        () => false,
      )
    ) {
      await sleep(STILL_DOWN_MS);
    }
    const restartAt = Date.now();
    const resumedOnLed = acks.filter(resumed);
    const firstAfterKill = acks.find((x) => x.ackedAt >= killedAt && x.sentAt >= killedAt);
    const firstOnLed = resumedOnLed[0];
    await startCluster();
    const restartedMs = Date.now() - restartAt;
    const inSyncMs = await untilInSync(admin, topic);
    await sleep(AFTER_RESTART_MS);
    running = false;
    drainUntil = Date.now() + DRAIN_MS;
    // an append that never answers (neither acknowledged nor failed) counts as unresolved
    const drained = await Promise.race([
      Promise.all(loops).then(() => true),
      sleep(DRAIN_MS).then(() => false),
    ]);
    if (!drained) for (const [stream, ids] of pending) unresolved.push({ stream, ids });

    // the log as a fresh consumer reads it (read_committed), every record of the topic
    const events = (await readAll(lf.log, [topic])).filter((e) => e.stream.includes(config.topicPrefix));
    const byId = new Map<string, typeof events>();
    for (const e of events) byId.set(e.id, [...(byId.get(e.id) ?? []), e]);
    const acked = acks.flatMap((x) =>
      x.ids.map((id, i) => ({ id, stream: x.stream, version: x.fromVersion + i })),
    );
    const lost = acked.filter((x) => !byId.has(x.id));
    const duplicates = [...byId.values()].filter((copies) => copies.length > 1);
    const misplaced = acked.filter((x) => {
      const e = byId.get(x.id)?.[0];
      return e !== undefined && (e.stream !== x.stream || e.version !== x.version);
    });
    const gaps: string[] = [];
    const versions = new Map<string, number[]>();
    for (const e of events) versions.set(e.stream, [...(versions.get(e.stream) ?? []), e.version]);
    for (const [stream, vs] of versions) {
      const sorted = [...vs].sort((x, y) => x - y);
      if (sorted.some((v, i) => v !== i + 1)) gaps.push(`${stream}: ${sorted.join(',')}`);
    }
    const retried = acks.filter((x) => x.failures > 0);
    const longestStall = acks.reduce((m, x) => Math.max(m, x.ackedAt - x.sentAt), 0);

    const figures = {
      killedAt: new Date(killedAt).toISOString(),
      killedNode: victim,
      controllerKilled,
      killedPid: pid,
      partitionsItLed: led,
      acknowledgedAppends: acks.length,
      acknowledgedEvents: acked.length,
      appendsBeforeKill: acksBeforeKill,
      appendsWhileDown: acks.filter((x) => x.ackedAt >= killedAt && x.ackedAt < restartAt).length,
      lost: lost.length,
      duplicates: duplicates.length,
      misplaced: misplaced.length,
      versionGaps: gaps.length,
      conflicts: conflicts.length,
      unresolved: unresolved.length,
      failedThenRetried: retried.length,
      errorsSeen: Object.fromEntries(errors),
      errorSamples: Object.fromEntries(samples),
      msToFirstAppendAfterKill: firstAfterKill ? firstAfterKill.ackedAt - killedAt : null,
      msToFirstAppendOnLedPartitions: firstOnLed ? firstOnLed.ackedAt - killedAt : null,
      longestAppendMs: longestStall,
      restartMs: restartedMs,
      msUntilReplicasInSync: inSyncMs,
      eventsInLog: events.length,
    };
    console.log(`leader kill: ${JSON.stringify(figures, null, 2)}`);

    expect(conflicts).toEqual([]);
    expect(unresolved).toEqual([]);
    expect(lost.map((x) => `${x.stream}@${x.version}`)).toEqual([]);
    expect(duplicates.map((c) => `${c[0]!.stream}@${c.map((e) => e.version).join('/')}`)).toEqual([]);
    expect(misplaced).toEqual([]);
    expect(gaps).toEqual([]);
    // nothing in the log that was not acknowledged (every append was sent until acknowledged)
    expect(events.length).toBe(acked.length);
    expect(
      resumedOnLed.length,
      'appends to the killed leader’s partitions while it was down',
    ).toBeGreaterThan(0);
    expect(acks.length).toBeGreaterThan(acksBeforeKill);
  }, 300_000);
});
