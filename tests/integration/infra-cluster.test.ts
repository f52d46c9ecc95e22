// infra.sh's --brokers: the three-broker cluster in place of the single broker in status and env, and a
// count it does not know refused. (Starting, killing and restarting nodes: tests/chaos/leader-kill.test.ts.)
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const INFRA = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'infra', 'infra.sh');

const infra = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await promisify(execFile)('bash', [INFRA, ...args]);
    return { code: 0, out: stdout, err: stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout, err: e.stderr };
  }
};

const exported = (out: string, name: string) => new RegExp(`^export ${name}=(.*)$`, 'm').exec(out)?.[1];

describe('infra.sh --brokers', () => {
  it('env --brokers 3 points logfront at the three brokers, with replication 3', async () => {
    const cluster = await infra('env', '--brokers', '3');
    const single = await infra('env');

    expect(exported(cluster.out, 'LOGFRONT_KAFKA_BROKERS')).toBe(
      '127.0.0.1:19094,127.0.0.1:19095,127.0.0.1:19096',
    );
    expect(exported(cluster.out, 'LOGFRONT_TOPIC_REPLICATION')).toBe('3');
    expect(exported(single.out, 'LOGFRONT_KAFKA_BROKERS')).toBe('127.0.0.1:19092');
    expect(exported(single.out, 'LOGFRONT_TOPIC_REPLICATION')).toBeUndefined();
    // everything else is the same services
    const rest = (out: string) => out.split('\n').filter((l) => !/KAFKA_BROKERS|TOPIC_REPLICATION/.test(l));
    expect(rest(cluster.out)).toEqual(rest(single.out));
  });

  it('status --brokers 3 lists the three nodes where kafka would be', async () => {
    const r = await infra('status', '--json', '--brokers', '3');
    const rows = JSON.parse(r.out) as { service: string; address: string }[];

    expect(r.code).toBe(0);
    expect(rows.map((x) => x.service)).toEqual([
      'postgres',
      'redis',
      's3',
      'registry',
      'kafka1',
      'kafka2',
      'kafka3',
      'toxiproxy',
    ]);
    expect(rows.filter((x) => /^kafka\d$/.test(x.service)).map((x) => x.address)).toEqual([
      '127.0.0.1:19094',
      '127.0.0.1:19095',
      '127.0.0.1:19096',
    ]);
  });

  it('a broker count other than 1 or 3 is a usage error naming it', async () => {
    for (const args of [
      ['up', '--brokers', '2', 'kafka'],
      ['status', '--brokers=5'],
      ['env', '--brokers'],
    ]) {
      const r = await infra(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(/--brokers takes 1 .* or 3 .*, not '(2|5|)'/);
    }
  });
});
