// One process of the peers benchmark: a system under test with its load generator (Emmett or the logfront
// SDK, both in-process libraries), or the load generator of logfront's HTTP API (the server is another
// process). Started by bench/peers.ts with a JSON job as its argument; answers on stdout behind MARK.
//   timed:  runs one timed scenario and prints its figures, then exits
//   trials: takes TrialCommands on stdin, one a line, and answers each
import { createInterface } from 'node:readline';
import {
  MARK,
  messageOf,
  orderPlaced,
  type PeerSystem,
  race,
  runTimed,
  type TimedJob,
  type TrialCommand,
} from './peers-load.ts';

export type SystemSpec =
  | { system: 'emmett'; connectionString: string; poolSize: number; inlineProjection: boolean }
  | { system: 'sdk'; name: string; runners: boolean }
  | { system: 'http'; url: string; sockets: number }
  | { system: 'raw'; brokers: string[]; topic: string; partitions: number };

export type WorkerJob = ({ mode: 'timed'; job: TimedJob } | { mode: 'trials' }) & { spec: SystemSpec };

const open = async (spec: SystemSpec): Promise<PeerSystem> => {
  switch (spec.system) {
    case 'emmett': {
      const { createEmmettSystem } = await import('./peers-emmett.ts');
      return createEmmettSystem(spec.connectionString, spec);
    }
    case 'sdk': {
      const { createSdkSystem } = await import('./peers-sdk.ts');
      return createSdkSystem(spec.name, spec);
    }
    case 'raw': {
      const { createRawSystem } = await import('./peers-raw.ts');
      return createRawSystem(spec);
    }
    case 'http': {
      const { createHttpSystem } = await import('./peers-http-client.ts');
      return createHttpSystem(spec.url, spec);
    }
  }
};

const answer = (value: unknown) => process.stdout.write(`${MARK}${JSON.stringify(value)}\n`);

const trials = async (system: PeerSystem) => {
  for await (const line of createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const command = JSON.parse(line) as TrialCommand;
    try {
      switch (command.op) {
        case 'append':
          answer({
            ok: true,
            result: await system.append(
              command.stream,
              command.expected,
              orderPlaced(command.stream.slice('order-'.length)),
            ),
          });
          break;
        case 'race':
          answer({
            ok: true,
            result: await race(system, command.stream, command.expected, command.writers, command.at),
          });
          break;
        case 'length':
          answer({ ok: true, result: await system.readStream(command.stream) });
          break;
        case 'close':
          return;
      }
    } catch (error) {
      answer({ ok: false, error: messageOf(error) });
    }
  }
};

const job = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
let code = 0;
let system: PeerSystem | undefined;
try {
  system = await open(job.spec);
  if (job.mode === 'timed') answer({ ok: true, result: await runTimed(system, job.job) });
  else {
    answer({ ok: true, result: 'ready' });
    await trials(system);
  }
} catch (error) {
  answer({ ok: false, error: messageOf(error) });
  code = 1;
}
await system?.close().catch(() => {});
process.exit(code);
