import type { DeadLetterJson } from '../client.ts';
import { formatTable } from '../table.ts';
import {
  clientOf,
  clientOptions,
  defineCommand,
  jsonOption,
  print,
  refuseOptions,
  UsageError,
} from './shared.ts';

/** the options of `dead-letters list` alone */
const PAGE_OPTIONS = ['state', 'limit', 'cursor'] as const;

export const deadLetters = defineCommand({
  name: 'dead-letters',
  usage: [
    'dead-letters list <projection> [--state S] [--limit N] [--cursor C]',
    'dead-letters retry|skip <projection> <id>',
    'dead-letters skip <projection>',
  ],
  does: "list a projection's dead letters, retry one after a fix, skip one;\nskip without an id resumes a halted projection past the event it halted on",
  help: 'Usage: logfront dead-letters list <projection> [--state pending|retried|skipped] [--limit N] [--cursor C] [--json]\n       logfront dead-letters retry <projection> <id> [--json]\n       logfront dead-letters skip <projection> [<id>] [--json]\n\nlist: one page of the dead letters of a projection, oldest first (--cursor continues).\nretry: applies the event again with the projection as the server runs it now (after a fix), exactly once;\nexits 1 naming the reason when it still fails (the letter stays pending).\nskip: marks the letter skipped; without an id, resumes a halted projection past the event it halted on.\nSee docs/runbooks.md#dead-letters.',
  options: {
    state: { type: 'string' },
    limit: { type: 'string' },
    cursor: { type: 'string' },
    ...jsonOption,
    ...clientOptions,
  },
  run: async ({ values, positionals }, io) => {
    const [verb, projection, id] = positionals;
    const json = values.json === true;
    const show = (l: DeadLetterJson) =>
      json
        ? JSON.stringify(l)
        : `dead letter ${l.id} of ${l.projection}: ${l.state} (${l.type} ${l.stream}@${l.version})`;
    if (verb === 'list' && positionals.length === 2) {
      const r = await clientOf(io, values).deadLetters(projection!, {
        ...(values.limit !== undefined ? { limit: Number(values.limit) } : {}),
        ...(values.cursor ? { cursor: values.cursor } : {}),
        ...(values.state ? { state: values.state } : {}),
      });
      if (json) io.out(JSON.stringify(r));
      else {
        io.out(
          r.items.length
            ? formatTable(r.items as unknown as Record<string, unknown>[], [
                'id',
                'state',
                'kind',
                'type',
                'stream',
                'version',
                'recordedAt',
                'reason',
              ])
            : '(no dead letters)',
        );
        if (r.next) io.out(`next page: --cursor ${r.next}`);
      }
      return 0;
    }
    if (verb === 'retry' || verb === 'skip') {
      refuseOptions(values, PAGE_OPTIONS, `dead-letters ${verb}`, 'dead-letters');
      if (positionals.length === 3) {
        const r = await clientOf(io, values).resolveDeadLetter(projection!, id!, verb);
        io.out(show(r.deadLetter));
        return 0;
      }
      if (verb === 'skip' && positionals.length === 2) {
        const r = await clientOf(io, values).resume(projection!);
        print(io, json, r, () => `${r.name} resumed past ${show(r.skipped)}`);
        return 0;
      }
    }
    throw new UsageError(
      'dead-letters takes list <projection>, retry <projection> <id> or skip <projection> [<id>]',
    );
  },
});
