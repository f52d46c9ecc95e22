import { createCatalog } from '../../core/log/event-types.ts';
import { openCommandAudit } from '../audit.ts';
import { loadConfig } from '../config.ts';
import { formatTable } from '../table.ts';
import { configOption, defineCommand, jsonOption, UsageError, userDomain } from './shared.ts';

export const schemas = defineCommand({
  name: 'schemas',
  usage: ['schemas register|check'],
  does: 'register the event schemas / check their compatibility without registering',
  help: "Usage: logfront schemas register|check [--json] [--config FILE]\n\nregister: registers every event type's JSON Schema under <prefix>.<EventType>, BACKWARD compatibility.\ncheck: asks the registry whether each schema is BACKWARD compatible with the registered one, without\nregistering; exits 1 naming each incompatible subject and why. Needs LOGFRONT_SCHEMA_REGISTRY_URL.",
  options: { ...jsonOption, ...configOption },
  run: async ({ values, positionals }, io) => {
    const [verb] = positionals;
    if (positionals.length !== 1 || (verb !== 'register' && verb !== 'check')) {
      throw new UsageError('schemas takes register or check');
    }
    const config = loadConfig(io.env);
    if (!config.schemaRegistryUrl) throw new UsageError('schemas needs LOGFRONT_SCHEMA_REGISTRY_URL');
    // registrations go to the audit log (schema.registered)
    const audit = verb === 'register' ? await openCommandAudit(config) : undefined;
    // the registry client is loaded by this command only: `demo` and `dev` never load it
    const { createConfluentRegistry } = await import('../../connectors/registry/confluent.ts');
    const confluent = createConfluentRegistry(config.schemaRegistryUrl, { tls: config.schemaRegistryTls });
    const registry = audit ? audit.registry(confluent) : confluent;
    const catalog = createCatalog(
      (await userDomain(io, config, values.config)).domain.eventTypes,
      config.topicPrefix,
    );
    const rows: Record<string, unknown>[] = [];
    for (const type of catalog.types.keys()) {
      const subject = catalog.subjectOf(type);
      const schema = catalog.jsonSchemaOf(type);
      if (verb === 'register') rows.push({ subject, id: await registry.register(subject, schema) });
      else {
        const r = await registry.check(subject, schema);
        rows.push({ subject, compatible: r.compatible, reasons: r.messages.join('; ') });
      }
    }
    io.out(values.json ? JSON.stringify({ subjects: rows }) : formatTable(rows));
    const audited = await audit?.close();
    if (audited?.note) io.err(`logfront: note: ${audited.note}`);
    if (audited?.failure) io.err(`logfront: ${audited.failure}`);
    const broken = rows.filter((r) => r.compatible === false);
    for (const b of broken) io.err(`logfront: ${b.subject} is not BACKWARD compatible: ${b.reasons}`);
    return broken.length || audited?.failure ? 1 : 0;
  },
});
