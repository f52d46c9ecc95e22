import { describe, expect, it } from 'vitest';
import { createInProcessRegistry } from '../../connectors/embedded/registry.ts';
import { createConfluentRegistry } from '../../connectors/registry/confluent.ts';
import { DependencyUnavailable } from '../../core/errors.ts';
import { schemaRegistryContract } from '../contract/schema-registry.features.ts';
import { services, uniqueId } from '../support/services.ts';

schemaRegistryContract('Apicurio (Confluent-compatible API)', () =>
  createConfluentRegistry(services().LOGFRONT_SCHEMA_REGISTRY_URL),
);
schemaRegistryContract('in-process', () => createInProcessRegistry());

describe('Confluent registry adapter failures', () => {
  it('a registry that does not answer fails the ping with the address', async () => {
    const registry = createConfluentRegistry('http://127.0.0.1:9/apis/ccompat/v7');
    await expect(registry.ping()).rejects.toThrow();
    await expect(registry.check('x.Y', {})).rejects.toThrow();
  });

  it('a schema that is not JSON Schema is refused as it is, not as a registry that is down', async () => {
    const registry = createConfluentRegistry(services().LOGFRONT_SCHEMA_REGISTRY_URL);
    const error = await registry
      .register(`t${uniqueId()}.Bad`, { type: 'nonsense' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(DependencyUnavailable);
    expect((error as Error).message).toMatch(/schema is invalid: data\/type/);
  });

  it('processes registering the same new subject at once all get its id (the loser of setting its compatibility registers again)', async () => {
    const url = services().LOGFRONT_SCHEMA_REGISTRY_URL;
    const processes = [0, 1, 2, 3].map(() => createConfluentRegistry(url));
    const schema = {
      type: 'object',
      properties: { orderId: { type: 'string' } },
      required: ['orderId'],
    };
    for (let i = 0; i < 3; i++) {
      const subject = `t${uniqueId()}.Raced`;
      const ids = await Promise.all(processes.map((r) => r.register(subject, schema)));
      expect(new Set(ids).size).toBe(1);
      // and the subject's compatibility is what logfront asks for
      const config = await fetch(`${url}/config/${encodeURIComponent(subject)}`);
      expect(((await config.json()) as { compatibilityLevel: string }).compatibilityLevel).toBe('BACKWARD');
    }
  });

  it('a path that is not a registry fails the ping and a check with the status', async () => {
    // an HTTP server that is not a registry (Toxiproxy's API): Apicurio itself, asked for an unknown
    // path, now and then logs the 404 and sends nothing back for over 10 s
    const registry = createConfluentRegistry(`${services().LOGFRONT_TOXIPROXY_URL}/nope/`);
    await expect(registry.ping()).rejects.toThrow(/schema registry answered 404/);
    await expect(registry.check('x.Y', {})).rejects.toThrow(/schema registry answered 404 checking x.Y/);
  });
});
