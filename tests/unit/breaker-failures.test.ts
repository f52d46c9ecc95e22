// What the breakers count as a dependency failing (app/compose.ts dependencyFailure, with the drivers'
// own errors of app/compose-services.ts): a DependencyUnavailable naming that dependency, or a driver's
// error that says its service is down, unreachable or too slow; never an answer it gave.
import { describe, expect, it } from 'vitest';
import { dependencyFailure } from '../../app/compose.ts';
import { dependencyFailed } from '../../app/compose-services.ts';
import { postgresDown } from '../../connectors/postgres/pg-sql.ts';
import { registryDown } from '../../connectors/registry/confluent.ts';
import { s3Down } from '../../connectors/s3/blob-store.ts';
import { DependencyUnavailable, ValidationFailed, VersionConflict } from '../../core/errors.ts';
import { CircuitOpen } from '../../core/resilience/breaker.ts';

const coded = (code: string, message = code) => Object.assign(new Error(message), { code });
const s3Answer = (httpStatusCode: number | undefined) =>
  Object.assign(new Error('s3 says'), { $metadata: { httpStatusCode } });

describe('the breakers count what says the dependency failed', () => {
  const services = dependencyFailure({ dependencyFailed });
  const embedded = dependencyFailure({});

  it('a DependencyUnavailable counts for the dependency it names, for no other', () => {
    const pg = new DependencyUnavailable('postgres', 'down');
    expect(services('postgres', pg)).toBe(true);
    expect(services('kafka', pg)).toBe(false);
    expect(embedded('postgres', pg)).toBe(true);
    expect(embedded('s3', new CircuitOpen('s3', 'open'))).toBe(true);
  });

  it('answers a dependency gave never count: a conflict, a validation error, a 4xx', () => {
    for (const dependency of ['kafka', 'postgres', 'schema-registry', 'redis', 's3'] as const) {
      expect(services(dependency, new VersionConflict('order-1', 1, 2))).toBe(false);
      expect(services(dependency, new ValidationFailed('bad'))).toBe(false);
      expect(services(dependency, coded('23505', 'duplicate key'))).toBe(false);
      expect(services(dependency, s3Answer(404))).toBe(false);
    }
    expect(embedded('postgres', coded('ECONNREFUSED'))).toBe(false);
  });

  it("the drivers' own errors of a service that is down, unreachable or too slow", () => {
    expect(services('postgres', coded('ECONNREFUSED'))).toBe(true);
    expect(services('postgres', coded('57P01'))).toBe(true);
    expect(services('postgres', coded('08006'))).toBe(true);
    // statement_timeout and idle_in_transaction_session_timeout: too slow, or a stuck session ended
    expect(services('postgres', coded('57014', 'canceling statement due to statement timeout'))).toBe(true);
    expect(services('postgres', coded('25P03'))).toBe(true);
    expect(services('kafka', Object.assign(new Error('x'), { name: 'KafkaJSConnectionError' }))).toBe(true);
    expect(services('kafka', Object.assign(new Error('x'), { name: 'KafkaJSNumberOfRetriesExceeded' }))).toBe(
      true,
    );
    expect(services('kafka', Object.assign(new Error('x'), { name: 'KafkaJSRequestTimeoutError' }))).toBe(
      true,
    );
    expect(services('s3', s3Answer(503))).toBe(true);
    expect(services('s3', s3Answer(undefined))).toBe(true);
    // the registry and Redis adapters classify their errors before a breaker sees them
    expect(services('schema-registry', coded('ECONNREFUSED'))).toBe(false);
    expect(services('redis', coded('ECONNREFUSED'))).toBe(false);
  });

  it('each adapter tells its own failures from another dependency’s', () => {
    expect(postgresDown(new DependencyUnavailable('postgres', 'x'))).toBe(true);
    expect(postgresDown(new DependencyUnavailable('kafka', 'x'))).toBe(false);
    expect(postgresDown(coded('ETIMEDOUT'))).toBe(true);
    // pg's connect timeout (connectionTimeoutMillis of the connection)
    expect(postgresDown(new Error('timeout expired'))).toBe(true);
    expect(registryDown(new DependencyUnavailable('schema-registry', 'x'))).toBe(true);
    expect(registryDown(new DependencyUnavailable('s3', 'x'))).toBe(false);
    expect(registryDown(coded('ECONNREFUSED'))).toBe(false);
    expect(s3Down(new DependencyUnavailable('s3', 'x'))).toBe(true);
    expect(s3Down(new DependencyUnavailable('postgres', 'x'))).toBe(false);
    expect(s3Down(s3Answer(500))).toBe(true);
    expect(s3Down(s3Answer(403))).toBe(false);
  });
});
