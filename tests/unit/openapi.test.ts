// The OpenAPI document is generated from the route table (app/routes.ts): these tests hold the generator
// to it. That the server registers exactly the table's routes, and that a route's handler knows exactly
// the query parameters its entry documents, is tested against a running server in
// tests/integration/openapi-metrics.embedded.test.ts.
import SwaggerParser from '@apidevtools/swagger-parser';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { accessOf } from '../../app/access.ts';
import { sampleDomain } from '../../app/domain.ts';
import { openApiDocument } from '../../app/openapi.ts';
import { type RouteSpec, routes } from '../../app/routes.ts';
import { EVENT_METADATA } from '../../core/log/event-types.ts';

interface Parameter {
  name: string;
  in: 'path' | 'query';
  description?: string;
  schema: Record<string, unknown>;
}
interface Operation {
  parameters?: Parameter[];
  responses: Record<string, unknown>;
  security?: unknown[];
  'x-required-scope'?: string;
}

const document = openApiDocument(sampleDomain);
const operationOf = (spec: RouteSpec) => {
  const path = spec.url.replace(/:(\w+)/g, '{$1}');
  return (document.paths[path] as Record<string, Operation> | undefined)?.[spec.method.toLowerCase()];
};
const specs = Object.entries(routes) as [string, RouteSpec][];
const parametersIn = (spec: RouteSpec, where: Parameter['in']) =>
  (operationOf(spec)?.parameters ?? []).filter((p) => p.in === where);

describe('the OpenAPI document', () => {
  it('validates as OpenAPI 3', async () => {
    await expect(SwaggerParser.validate(structuredClone(document) as never)).resolves.toBeDefined();
  });

  it('has one operation per route of the table, under its method and path, and no other', () => {
    for (const [name, spec] of specs) expect(operationOf(spec), name).toBeDefined();
    const operations = Object.values(document.paths).flatMap((methods) => Object.keys(methods));
    expect(operations).toHaveLength(specs.length);
  });

  it("a route's query parameters are the keys of the zod schemas its handler parses the query with", () => {
    for (const [name, spec] of specs) {
      const documented = parametersIn(spec, 'query').map((p) => p.name);
      const keys = (spec.query ?? []).flatMap((schema) => Object.keys(schema.shape));
      expect(documented.sort(), name).toEqual(keys.sort());
    }
  });

  it("a query parameter's schema says what its zod schema takes: bounds, defaults, enums, patterns", () => {
    const parameter = (spec: RouteSpec, name: string) =>
      parametersIn(spec, 'query').find((p) => p.name === name)?.schema;

    expect(parameter(routes.readStream, 'fromVersion')).toEqual({
      type: 'integer',
      minimum: 1,
      maximum: 2 ** 31 - 1,
      default: 1,
    });
    expect(parameter(routes.rows, 'limit')).toMatchObject({ minimum: 1, maximum: 500, default: 50 });
    expect(parameter(routes.row, 'maxStalenessMs')).toMatchObject({ minimum: 0, maximum: 3_600_000 });
    expect(parameter(routes.getBlob, 'onStale')).toEqual({ type: 'string', enum: ['error', 'serve'] });
    expect(parameter(routes.erase, 'tenant')).toHaveProperty('pattern');
    // the audit trail checks these itself; the document still says what it takes
    expect(parameter(routes.audit, 'action')).toHaveProperty('enum');
    expect(parameter(routes.audit, 'since')).toMatchObject({ format: 'date-time' });
    expect(parameter(routes.deadLetters, 'limit')).toMatchObject({ maximum: 500, default: 50 });
  });

  it("a route's path parameters are its URL's, each described", () => {
    for (const [name, spec] of specs) {
      const parameters = parametersIn(spec, 'path');
      expect(
        parameters.map((p) => p.name),
        name,
      ).toEqual([...spec.url.matchAll(/:(\w+)/g)].map((m) => m[1]));
      for (const p of parameters) expect(p.description, `${name} ${p.name}`).toBeTruthy();
    }
  });

  it('every route but the probes wants a token and names the scope app/access.ts checks', () => {
    for (const [name, spec] of specs) {
      const operation = operationOf(spec)!;
      if (spec.url === '/healthz' || spec.url === '/readyz') {
        expect(operation.security, name).toEqual([]);
        continue;
      }
      expect(operation.responses, name).toHaveProperty('401');
      const access = accessOf(spec.method, spec.url, {});
      expect(operation['x-required-scope'], name).toBe(access?.action);
      if (access) expect(operation.responses, name).toHaveProperty('403');
    }
  });

  it("an event's metadata is the schema an append checks it against, and each event type has its own", () => {
    const schemas = document.components.schemas as Record<string, unknown>;
    expect(schemas.Metadata).toEqual(z.toJSONSchema(EVENT_METADATA, { target: 'openapi-3.0', io: 'input' }));
    for (const type of sampleDomain.eventTypes) {
      expect(schemas[`Event_${type.name}`]).toMatchObject({
        properties: { type: { enum: [type.name] }, metadata: { $ref: '#/components/schemas/Metadata' } },
      });
    }
    expect((schemas.Event as { oneOf: unknown[] }).oneOf).toHaveLength(sampleDomain.eventTypes.length);
  });
});
