// The alert and recording rules and the dashboards of dashboards/, checked by Prometheus itself
// (Debian's prometheus package, installed by infra/): promtool checks and unit-tests the rules, and a
// real Prometheus scraping a running logfront answers every expression they use with data.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Api, startApi } from '../support/api.ts';
import { orderPlaced } from '../support/orders.ts';
import { freePort } from '../support/ports.ts';
import { expressionsToCheck, RULES_DIR, ruleFiles } from '../support/rules.ts';
import { servicesConfig, uniqueId, waitFor } from '../support/services.ts';

const tool = (name: string) => {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    throw new Error(`${name} not found: bash infra/infra.sh up installs it (Debian's prometheus package)`);
  }
};

describe('Prometheus rules and dashboards', () => {
  beforeAll(() => {
    tool('promtool');
    tool('prometheus');
  });

  it('promtool check rules accepts every rule file', () => {
    const r = spawnSync('promtool', ['check', 'rules', ...ruleFiles()], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });

  it('promtool test rules: every alert fires on its failure series and stays silent on a healthy one', () => {
    const tests = join(RULES_DIR, 'tests', 'alerts.test.yml');
    const r = spawnSync('promtool', ['test', 'rules', tests], { encoding: 'utf8' });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // each alert has a test in which it fires and one in which it is silent
    const text = readFileSync(tests, 'utf8');
    const alerts = [
      ...readFileSync(join(RULES_DIR, 'logfront-alerts.yml'), 'utf8').matchAll(/alert: (\w+)/g),
    ].map((m) => m[1]!);
    for (const alert of alerts) {
      const firing = new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`);
      const silent = new RegExp(`alertname: ${alert}(,|\\n\\s+)\\s*exp_alerts: \\[\\]`);
      expect(firing.test(text), `${alert}: no test in which it fires`).toBe(true);
      expect(silent.test(text), `${alert}: no test in which it stays silent`).toBe(true);
    }
  });

  describe('a Prometheus scraping a running logfront', () => {
    let api: Api;
    let prometheus: ChildProcess | undefined;
    let dir: string;
    let promUrl: string;
    let traffic: NodeJS.Timeout | undefined;
    const log: string[] = [];

    beforeAll(async () => {
      api = await startApi(servicesConfig());
      // traffic on every route the expressions read: appends, row reads (a hit, a miss), blobs
      const order = uniqueId();
      let version = 0;
      const step = async () => {
        const r = await api.request('POST', `/v1/streams/order-${order}/events`, {
          expectedVersion: version === 0 ? 'no_stream' : version,
          events: [orderPlaced(`${order}`)],
        });
        if (r.status === 201) version = Number(r.body.toVersion ?? version + 1);
        await api.request('GET', `/v1/projections/orders/rows/${order}?maxStalenessMs=60000`);
        await api.request('GET', `/v1/projections/orders/rows/absent-${order}`);
      };
      await step();
      const blob = `b${uniqueId()}`;
      await fetch(`${api.url}/v1/blobs/${blob}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/octet-stream' },
        body: Buffer.from('invoice'),
      });
      await fetch(`${api.url}/v1/blobs/${blob}`).then((r) => r.arrayBuffer());
      traffic = setInterval(() => void step().catch(() => {}), 250);

      dir = mkdtempSync(join(tmpdir(), 'lf-prom-'));
      // the rules as they are, evaluated every second instead of every 30 s
      const rules = ruleFiles().map((file) => {
        const copy = join(dir, basename(file));
        writeFileSync(copy, readFileSync(file, 'utf8').replaceAll('interval: 30s', 'interval: 1s'));
        return copy;
      });
      const { host } = new URL(api.url);
      writeFileSync(
        join(dir, 'prometheus.yml'),
        [
          'global: { scrape_interval: 1s, evaluation_interval: 1s }',
          'rule_files:',
          ...rules.map((r) => `  - ${r}`),
          'scrape_configs:',
          `  - job_name: logfront`,
          `    static_configs: [{ targets: ["${host}"] }]`,
        ].join('\n'),
      );
      const port = await freePort();
      promUrl = `http://127.0.0.1:${port}`;
      prometheus = spawn(
        'prometheus',
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      prometheus.stderr!.on('data', (b: Buffer) => log.push(b.toString()));
      await waitFor(async () => (await fetch(`${promUrl}/-/ready`).catch(() => null))?.ok, 30_000, 200);
    }, 60_000);

    afterAll(async () => {
      clearInterval(traffic);
      prometheus?.kill('SIGKILL');
      await api?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const query = async (expr: string) => {
      const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await r.json()) as { status: string; error?: string; data?: { result: unknown[] } };
      if (body.status !== 'success') throw new Error(`${expr}: ${body.error}`);
      return body.data!.result;
    };

    it('answers every expression of the rules and dashboards with data', async () => {
      const checks = expressionsToCheck();
      expect(checks.length).toBeGreaterThan(40);
      // the target scraped, rates over two samples, the 15 s steps of the staleness subqueries
      await waitFor(async () => (await query('up{job="logfront"} == 1')).length > 0, 30_000, 500);
      await new Promise((r) => setTimeout(r, 16_000));
      let empty: string[] = [];
      await waitFor(
        async () => {
          empty = [];
          for (const { where, expr } of checks) {
            if ((await query(expr)).length === 0) empty.push(`${where}: ${expr}`);
          }
          return empty.length === 0;
        },
        20_000,
        1000,
      ).catch(() => {});
      expect(empty, log.join('').slice(-2000)).toEqual([]);
    }, 120_000);
  });
});
