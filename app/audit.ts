// The audit trail of a deployment, from its config: the audit log on Kafka (services) or in the embedded
// log's schema (embedded), the HMAC secret of data subject ids, the best-effort queue.

import { userInfo } from 'node:os';
import type { Logger } from '../core/logger.ts';
import type { SchemaRegistry } from '../core/ports.ts';
import type { Resilience } from '../core/resilience/resilience.ts';
import { type AuditActor, type AuditInput, type AuditLog, createAuditTrail } from '../core/security/audit.ts';
import { DEFAULT_TENANT } from '../core/security/auth.ts';
import type { Config } from './config.ts';
import { resolveAuditSecret } from './kek.ts';

/**
 * the audit trail over a mode's audit log (compose-services.ts: a topic; compose-embedded.ts: a table);
 * its retries while the audit log is down are counted as kafka `audit_append` (services mode)
 */
export const createAuditTrailFor = (
  config: Config,
  deps: { log: AuditLog; logger: Logger; resilience?: Resilience },
) => {
  const { secret } = resolveAuditSecret(config);
  const retried = config.mode === 'services' ? deps.resilience?.retried : undefined;
  return createAuditTrail({ log: deps.log, secret, logger: deps.logger, ...(retried ? { retried } : {}) });
};

/** the audit log on Kafka, as `serve` keeps it; loaded only when asked for */
export const createKafkaAuditLogFor = async (config: Config, logger: Logger): Promise<AuditLog> =>
  (await import('../connectors/kafka/audit-log.ts')).createKafkaAuditLog({
    brokers: config.kafka.brokers,
    clientId: `${config.kafka.clientId}-audit`,
    topicPrefix: config.topicPrefix,
    replication: config.kafka.replication,
    minInsyncReplicas: config.kafka.minInsyncReplicas,
    tls: config.kafka.tls,
    sasl: config.kafka.sasl,
    logger,
  });

/** who runs a CLI command, as the audit log names it */
export const cliActor = () => {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
};

type CommandAuditResult = { note?: string; failure?: string };

/**
 * The audit trail of a CLI command that registers schemas itself (`schemas register`): `registry` wraps a
 * registry so that each registration is recorded (schema.registered) in the deployment's audit log on
 * Kafka. Without LOGFRONT_KAFKA_BROKERS there is none the CLI can reach (the embedded one belongs to the
 * process that holds the data directory): `close` answers a note saying so. It answers a failure when
 * records could not be written, nothing when every one was.
 */
export const openCommandAudit = async (config: Config) => {
  const by: AuditActor = { actor: cliActor(), tenant: DEFAULT_TENANT, traceId: null };
  let offered = 0;
  const logger = (await import('./logger.ts')).createLogger('silent');
  const trail =
    config.mode === 'services'
      ? createAuditTrailFor(config, { log: await createKafkaAuditLogFor(config, logger), logger })
      : undefined;
  const offer = (entry: AuditInput) => {
    offered += 1;
    trail?.offer(entry);
  };
  let closed: Promise<CommandAuditResult> | undefined;
  const close = () =>
    (closed ??= (async (): Promise<CommandAuditResult> => {
      if (!trail) {
        return offered
          ? { note: `${offered} audit records not written: no audit log (LOGFRONT_KAFKA_BROKERS is not set)` }
          : {};
      }
      await trail.close();
      const lost = Object.values(trail.counts.dropped).reduce((a, b) => a + b, 0);
      return lost ? { failure: `${lost} audit records could not be written to the audit log (Kafka)` } : {};
    })());
  return {
    registry: (registry: SchemaRegistry): SchemaRegistry => ({
      ...registry,
      register: async (subject, schema) => {
        const registered = { ...by, action: 'schema.registered', resource: `schema/${subject}` } as const;
        try {
          const schemaId = await registry.register(subject, schema);
          offer({ ...registered, outcome: 'success', details: { schemaId } });
          return schemaId;
        } catch (error) {
          // the command ends here: what is queued is written first
          offer({ ...registered, outcome: 'failure', reason: (error as Error).message });
          await close();
          throw error;
        }
      },
    }),
    close,
  };
};
