import { AUDIT_HELP, auditCommand, auditUsageProblem } from '../audit-command.ts';
import { clientOf, clientOptions, defineCommand, jsonOption, need, UsageError } from './shared.ts';

export const audit = defineCommand({
  name: 'audit',
  usage: ['audit [--since T] [--action A] [--limit N] [--cursor C] [--tenant T]'],
  does: 'read the audit log (admin scope)',
  help: AUDIT_HELP,
  options: {
    since: { type: 'string' },
    action: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    tenant: { type: 'string' },
    ...jsonOption,
    ...clientOptions,
  },
  run: async ({ values, positionals }, io) => {
    need('audit', positionals, 0, 'no arguments');
    const problem = auditUsageProblem(values);
    if (problem) throw new UsageError(problem);
    return auditCommand(clientOf(io, values), values, io.out, values.json === true);
  },
});
