// Answers of Confluent-compatible registries that the registry of the test services (Apicurio) never
// gives: Confluent's own reasons for a verdict, a latest version without its schema, an empty body.
// A small HTTP server answers as those registries do.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';

const subject = 't.OrderShipped';
const compatibility = `/compatibility/subjects/${subject}/versions/latest`;
const latest = `/subjects/${subject}/versions/latest`;

describe('Confluent registry answers', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    server = undefined;
  });
  /** a registry answering each path with its [status, body text]; any other path 404 */
  const registry = async (answers: Record<string, [number, string]>) => {
    server = createServer((request, response) => {
      const [status, body] = answers[request.url!.split('?')[0]!] ?? [404, ''];
      response.writeHead(status, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
      response.end(body);
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return createConfluentRegistry(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  };

  it("passes on a registry's own reasons for an incompatibility (Confluent's verbose answer)", async () => {
    const reasons = ["Found incompatible change: {type:'REQUIRED_PROPERTY_ADDED', location:'#/note'}"];
    const r = await registry({
      [compatibility]: [200, JSON.stringify({ is_compatible: false, messages: reasons })],
    });
    expect(await r.check(subject, { type: 'object' })).toEqual({ compatible: false, messages: reasons });
  });

  it('a verdict without reasons, whose latest schema cannot be read, still says what it is against', async () => {
    const r = await registry({
      [compatibility]: [200, JSON.stringify({ is_compatible: false })],
      [latest]: [200, JSON.stringify({ subject, version: 3 })],
    });
    expect(await r.check(subject, { type: 'object' })).toEqual({
      compatible: false,
      messages: [`not BACKWARD compatible with the latest version of ${subject}`],
    });
  });

  it('an empty answer fails a check with its status', async () => {
    const r = await registry({ [compatibility]: [404, ''] });
    await expect(r.check(subject, { type: 'object' })).rejects.toThrow(
      `schema registry answered 404 checking ${subject}: {}`,
    );
  });
});
