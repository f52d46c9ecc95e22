// The S3 blob store through the resilience layer (connectors/s3/blob-store.ts) on the real S3 behind
// Toxiproxy: calls that are the same request when repeated are retried by the policy and counted;
// creating and completing a multipart upload are not (a repeat would be another upload, or complete one
// that completed); the s3 breaker opens on repeated failures and closes once S3 answers again.
import { afterAll, describe, expect, it } from 'vitest';
import { createS3BlobStore, s3Down } from '../../connectors/s3/blob-store.ts';
import { DependencyUnavailable } from '../../core/errors.ts';
import type { Logger } from '../../core/logger.ts';
import { CircuitOpen } from '../../core/resilience/breaker.ts';
import { createResilience } from '../../core/resilience/resilience.ts';
import { services, uniqueId } from '../support/services.ts';
import { createProxy, type ToxicProxy, throughProxy } from '../support/toxiproxy.ts';

const quiet = () => {};
const logger: Logger = { error: quiet, warn: quiet, info: quiet, debug: quiet };
const proxies: ToxicProxy[] = [];
afterAll(async () => {
  for (const proxy of proxies) await proxy.remove().catch(() => {});
});

const storeBehind = async (failureThreshold: number) => {
  const endpoint = services().LOGFRONT_S3_ENDPOINT!;
  const proxy = await createProxy(new URL(endpoint).host);
  proxies.push(proxy);
  const resilience = createResilience({
    logger,
    isFailure: (_d, e) => s3Down(e),
    failureThreshold,
    openMs: 300,
  });
  const store = createS3BlobStore({
    endpoint: throughProxy(endpoint, proxy).replace(/\/$/, ''),
    bucket: services().LOGFRONT_S3_BUCKET!,
    region: services().LOGFRONT_S3_REGION ?? 'us-east-1',
    accessKeyId: services().AWS_ACCESS_KEY_ID,
    secretAccessKey: services().AWS_SECRET_ACCESS_KEY,
    resilience,
  });
  return { proxy, resilience, store };
};
const failure = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('S3 through the resilience layer', () => {
  it('a put is retried while S3 is down, a multipart create is not; both end as 503 s3', async () => {
    const { proxy, resilience, store } = await storeBehind(100);
    const key = `t${uniqueId()}/resilience`;
    await proxy.enabled(false);
    const put = await failure(store.put(key, Buffer.from('x'), 'text/plain'));
    expect(put).toBeInstanceOf(DependencyUnavailable);
    expect(put).toMatchObject({ dependency: 's3' });
    const create = await failure(store.createMultipart(key, 'text/plain'));
    expect(create).toMatchObject({ dependency: 's3' });
    const counted = resilience.retries();
    expect(counted.find((r) => r.operation === 'put')?.count).toBeGreaterThan(0);
    expect(counted.find((r) => r.operation === 'create_multipart')).toBeUndefined();
    await proxy.enabled(true);
    await store.put(key, Buffer.from('back'), 'text/plain');
    expect(await store.head(key)).toEqual({ size: 4 });
    await store.delete(key);
    await store.close();
  }, 60_000);

  it('repeated failures open the s3 breaker; once S3 is back a trial closes it', async () => {
    const { proxy, resilience, store } = await storeBehind(2);
    const key = `t${uniqueId()}/breaker`;
    await proxy.enabled(false);
    expect(await failure(store.head(key))).toBeInstanceOf(CircuitOpen);
    expect(resilience.breaker('s3').state).toBe('open');
    await proxy.enabled(true);
    await new Promise((r) => setTimeout(r, 350));
    expect(await store.head(key)).toBeNull();
    expect(resilience.transitions().map((t) => `${t.from}>${t.to}`)).toEqual([
      'closed>open',
      'open>half_open',
      'half_open>closed',
    ]);
    await store.close();
  }, 60_000);
});
