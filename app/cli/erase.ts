import { clientOf, clientOptions, defineCommand, jsonOption, need, print } from './shared.ts';

export const erase = defineCommand({
  name: 'erase',
  usage: ['erase <subjectId> [--tenant T]'],
  does: 'GDPR erase of a data subject: its sensitive fields become unreadable, its rows and blobs go',
  help: 'Usage: logfront erase <subjectId> [--tenant T] [--json]\n\nErases a data subject (GDPR) on the server: its data keys are destroyed, so the sensitive fields of its\nevents read as null everywhere (the log, dead letters, rebuilds), and the rows of projections that declare a\nsubject column are deleted, and so are the blobs uploaded for the subject. Written to the audit log as\nobject.deleted. Tenant default: default. See docs/erasure.md.',
  options: { tenant: { type: 'string' }, ...jsonOption, ...clientOptions },
  run: async ({ values, positionals }, io) => {
    need('erase', positionals, 1, '<subjectId>');
    const r = await clientOf(io, values).erase(positionals[0]!, values.tenant);
    const rows = Object.entries(r.rowsDeleted)
      .map(([p, n]) => `${n} ${p} rows`)
      .join(', ');
    print(
      io,
      values.json,
      r,
      () =>
        `erased subject ${r.subjectId} (tenant ${r.tenant}): ${r.keysDestroyed} data keys destroyed${rows ? `, ${rows} deleted` : ''}${r.blobsDeleted ? `, ${r.blobsDeleted} blobs deleted` : ''}`,
    );
    return 0;
  },
});
