import { readFileSync } from 'node:fs';
import { BulkAppendFailed, bulkAppend, parseNdjson } from '../bulk-append.ts';
import type { Client } from '../client.ts';
import { createProgress } from '../progress.ts';
import {
  clientOf,
  clientOptions,
  defineCommand,
  type Io,
  jsonOption,
  need,
  print,
  refuseOptions,
  UsageError,
} from './shared.ts';

const BULK_BATCH_BYTES = 512 * 1024;

/** append --file: NDJSON events from a file or stdin, in batches per stream, with a progress bar */
const appendFile = async (
  io: Io,
  client: Client,
  file: string,
  stream: string | undefined,
  options: { json: boolean; batch: number },
) => {
  const source = file === '-' ? 'stdin' : file;
  let text: string;
  try {
    text = file === '-' ? await (io.stdin ?? (() => Promise.resolve('')))() : readFileSync(file, 'utf8');
  } catch (error) {
    throw new BulkAppendFailed(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const events = parseNdjson(text, source, stream);
  const progress = createProgress(options.json ? {} : { tty: io.tty, line: io.err }, {
    label: source,
    total: events.length,
  });
  let r: Awaited<ReturnType<typeof bulkAppend>>;
  try {
    r = await bulkAppend(client, events, {
      batchEvents: options.batch,
      batchBytes: BULK_BATCH_BYTES,
      concurrency: 4,
      progress,
    });
  } catch (error) {
    if (error instanceof BulkAppendFailed) throw new BulkAppendFailed(`${source}: ${error.message}`);
    throw error;
  }
  const rate = r.seconds > 0 ? Math.round(r.events / r.seconds) : r.events;
  print(
    io,
    options.json,
    r,
    () =>
      `appended ${r.events.toLocaleString('en-US')} events to ${r.streams} streams in ${r.batches} batches, ${r.seconds} s (${rate.toLocaleString('en-US')} events/s)`,
  );
  return 0;
};

const expectedVersion = (raw: string) => (/^\d+$/.test(raw) ? Number(raw) : raw);

export const append = defineCommand({
  name: 'append',
  usage: [
    'append <stream> <type> --data <json> [--expected-version N] [--id UUID]',
    'append [<stream>] --file FILE|- [--batch N]',
  ],
  does: 'bulk append of NDJSON events, with a progress bar',
  help: 'Usage: logfront append <stream> <type> --data <json> [--expected-version N|no_stream|stream_exists|any] [--id UUID] [--json]\n       logfront append [<stream>] --file FILE|- [--batch N] [--json]\n\nAppends one event to a stream. With --file, appends NDJSON events from FILE (- for stdin), one\n{"stream", "type", "data", "id"?, "metadata"?} per line (lines without "stream" go to <stream>), in batches of\nat most N events per stream (default 100), four streams at a time, each stream in file order. Every line is\nparsed before anything is sent. A progress bar is drawn on a terminal (plain lines every 2 s otherwise, none\nwith --json). A refused batch stops the run, naming its line; batches before it stay appended. Give lines an\n"id" to make a re-run append nothing twice.',
  options: {
    data: { type: 'string' },
    'expected-version': { type: 'string' },
    id: { type: 'string' },
    file: { type: 'string', short: 'f' },
    batch: { type: 'string' },
    ...jsonOption,
    ...clientOptions,
  },
  run: async ({ values, positionals }, io) => {
    const json = values.json === true;
    if (values.file !== undefined) {
      if (positionals.length > 1)
        throw new UsageError('append --file takes at most a <stream> (the default for lines without one)');
      refuseOptions(values, ['data', 'expected-version', 'id'], 'append --file', 'append');
      const batch = values.batch ?? '100';
      if (!/^\d+$/.test(batch) || Number(batch) < 1 || Number(batch) > 100_000)
        throw new UsageError('--batch takes a whole number of events from 1 to 100000');
      return await appendFile(io, clientOf(io, values), values.file, positionals[0], {
        json,
        batch: Number(batch),
      });
    }
    refuseOptions(values, ['batch'], 'append without --file', 'append');
    need('append', positionals, 2, '<stream> <type>');
    if (values.data === undefined) throw new UsageError('append needs --data <json>');
    let data: unknown;
    try {
      data = JSON.parse(values.data);
    } catch {
      throw new UsageError('--data is not valid JSON');
    }
    const event: Record<string, unknown> = { type: positionals[1], data };
    if (values.id) event.id = values.id;
    const expected = values['expected-version'];
    const r = await clientOf(io, values).append(
      positionals[0]!,
      [event],
      expected === undefined ? undefined : expectedVersion(expected),
    );
    print(io, json, r, () => `appended ${r.stream} v${r.fromVersion}..v${r.toVersion} at ${r.position}`);
    return 0;
  },
});
