// The fuzzer's loop: generate requests with fast-check from a printed seed, send them with a fixed
// number in flight, judge every answer, and afterwards hold the log and the projections against
// what was sent (see checks.ts).
import { writeFileSync } from 'node:fs';
import fc from 'fast-check';
import type { EventLog, ProjectionStore } from '../../../core/ports.ts';
import type { ProjectionDefinition } from '../../../projections/define.ts';
import { finalChecks } from './checks.ts';
import { answerText, type Finding, type KnownOpen, requestText } from './findings.ts';
import { createModel, type Model } from './model.ts';
import { type Built, type Limits, type Plan, planArbitrary } from './requests.ts';
import { type Answer, createSender, type Wire } from './send.ts';

export interface FuzzTarget {
  name: 'embedded' | 'services';
  url: string;
  log: EventLog;
  store: ProjectionStore;
  projections: readonly ProjectionDefinition[];
  limits: Limits;
  /** the server's error log lines so far (a 5xx is printed with them) */
  serverErrors(): string[];
}

export interface FuzzOptions {
  runs: number;
  seed: number;
  concurrency: number;
  /** how long one request may take before it counts as unanswered */
  requestTimeoutMs: number;
  /** a run tag: streams, blobs and ids are made unique with it */
  tag: string;
  /** where to write every finding, known one and note as JSON (LOGFRONT_FUZZ_REPORT), if anywhere */
  reportFile?: string;
}

export interface FuzzReport {
  seed: number;
  requests: number;
  ms: number;
  byRoute: Map<string, number>;
  byStatus: Map<string, number>;
  byIntent: Map<string, number>;
  /** per route: total and longest answer time, ms */
  timeByRoute: Map<string, { total: number; max: number }>;
  fiveHundreds: number;
  findings: Finding[];
  /** findings that a KNOWN_OPEN entry excuses, by entry */
  known: Map<KnownOpen, Finding[]>;
  /** not failures: valid input refused, error codes API.md does not name */
  notes: Finding[];
  /** what the final checks saw: events in the log, rows, dead letters */
  stats: string[];
}

/** the fuzz run's settings from the environment: LOGFRONT_FUZZ_RUNS, _SEED, _CONCURRENCY */
export const fuzzOptions = (defaultRuns: number, tag: string): FuzzOptions => {
  const env = process.env;
  const runs = env.LOGFRONT_FUZZ_RUNS ? Number(env.LOGFRONT_FUZZ_RUNS) : defaultRuns;
  const seed = env.LOGFRONT_FUZZ_SEED ? Number(env.LOGFRONT_FUZZ_SEED) : (Math.random() * 2 ** 31) | 0;
  const concurrency = env.LOGFRONT_FUZZ_CONCURRENCY ? Number(env.LOGFRONT_FUZZ_CONCURRENCY) : 12;
  for (const [name, v] of Object.entries({ runs, seed, concurrency }))
    if (!Number.isSafeInteger(v) || v < (name === 'seed' ? -(2 ** 31) : 1))
      throw new Error(`LOGFRONT_FUZZ_${name.toUpperCase()}: expected a whole number, got ${v}`);
  return {
    runs,
    seed,
    concurrency,
    requestTimeoutMs: 30_000,
    tag,
    ...(env.LOGFRONT_FUZZ_REPORT ? { reportFile: env.LOGFRONT_FUZZ_REPORT } : {}),
  };
};

/** error codes API.md and the code name; another snake_case code is a note, anything else a finding */
const API_CODES = new Set([
  'validation_failed',
  'invalid_json',
  'bad_request',
  'unsupported_media_type',
  'too_long',
  'too_large',
  'not_found',
  'conflict',
  'version_conflict',
  'forbidden',
  'unauthenticated',
  'staleness_budget_exceeded',
  'unavailable',
  'dependency_unavailable',
  'overloaded',
  'checksum_mismatch',
  'erasure_unavailable',
  'projection_halted',
  'stream_deleted',
]);
const SNAKE = /^[a-z][a-z0-9]*(_[a-z0-9]+)*$/;
/** a 503 that is an answer, not a failure: the caller's budget ran out (the services are up here) */
const ANSWERING_503 = new Set(['staleness_budget_exceeded']);
const STACK = /\.(ts|js|mjs|cjs):\d+:\d+|\n\s+at /;

export const runFuzz = async (
  target: FuzzTarget,
  options: FuzzOptions,
  knownOpen: readonly KnownOpen[],
): Promise<FuzzReport> => {
  const model = createModel(options.tag);
  const arbitrary = planArbitrary(target.limits);
  const report: FuzzReport = {
    seed: options.seed,
    requests: 0,
    ms: 0,
    byRoute: new Map(),
    byStatus: new Map(),
    byIntent: new Map(),
    timeByRoute: new Map(),
    fiveHundreds: 0,
    findings: [],
    known: new Map(),
    notes: [],
    stats: [],
  };
  // a server that closes a kept-alive connection after an answer that did not say so breaks the
  // client's next request on it: that answer is the finding
  const sender = createSender(target.url, options.concurrency, (last) =>
    file(report, knownOpen, {
      kind: 'connection',
      target: target.name,
      route: 'keep-alive',
      why: 'the server closed a kept-alive connection after this answer, which had no Connection: close',
      detail: "the client's next request on the connection failed (ECONNRESET); it was sent again",
      request: requestText(last.wire),
      answer: answerText(last.answer),
      status: last.answer.status,
      code: '',
    }),
  );
  const count = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
  const started = performance.now();

  // generated in chunks (a long run does not hold all its requests), each from the seed and its index
  const CHUNK = 250;
  let generated = 0;
  let chunk = 0;
  let queue: Plan[] = [];
  const take = (): Plan | undefined => {
    if (!queue.length && generated < options.runs) {
      const n = Math.min(CHUNK, options.runs - generated);
      queue = fc.sample(arbitrary, { seed: (options.seed + chunk * 7919) | 0, numRuns: n });
      chunk += 1;
      generated += n;
    }
    return queue.shift();
  };

  /** one answer: counted, judged, learnt from, and (an append) kept for the log check */
  const handle = (plan: Plan, built: Built, answer: Answer) => {
    const route = built.route ?? plan.route;
    const intent = built.intent ?? plan.intent;
    report.requests += 1;
    count(report.byRoute, route);
    count(report.byStatus, answer.status ? String(answer.status) : 'none');
    count(report.byIntent, intent);
    const time = report.timeByRoute.get(route) ?? { total: 0, max: 0 };
    report.timeByRoute.set(route, { total: time.total + answer.ms, max: Math.max(time.max, answer.ms) });
    if (answer.status >= 500) report.fiveHundreds += 1;
    let json: unknown;
    try {
      json = answer.body ? JSON.parse(answer.body) : undefined;
    } catch {
      json = undefined;
    }
    built.learn?.(answer.status, json);
    const finding = (kind: Finding['kind'], detail: string): Finding => ({
      kind,
      target: target.name,
      route,
      why: plan.why,
      detail,
      request: requestText(built.wire),
      answer: answerText(answer),
      status: answer.status,
      code: typeof (json as { error?: unknown })?.error === 'string' ? (json as { error: string }).error : '',
    });
    for (const f of judge(
      route,
      answer,
      json,
      intent,
      built.wire.method,
      built.wire.mayGoUnanswered === true,
      finding,
    ))
      file(report, knownOpen, f);
    return built.append
      ? track(model, built.append, answer, json, finding, (f) => file(report, knownOpen, f))
      : undefined;
  };

  const send = async (wire: Wire) => {
    const answer = await sender.send(wire, options.requestTimeoutMs);
    // a HEAD answer has no body: the code of a failed one is read from the same request as a GET
    if (wire.method === 'HEAD' && answer.status >= 400) {
      const get = await sender.send({ ...wire, method: 'GET' }, options.requestTimeoutMs);
      if (get.status === answer.status) Object.assign(answer, { body: get.body, headers: get.headers });
      else answer.note = `as a GET: ${get.status} ${get.body.slice(0, 200)}`;
    }
    return answer;
  };

  const worker = async () => {
    for (let plan = take(); plan; plan = take()) {
      const built = plan.build(model);
      if (!built.twice) {
        handle(plan, built, await send(built.wire));
        continue;
      }
      const answers = await Promise.all([send(built.wire), send(built.wire)]);
      const ranges = answers.map((a) => handle(plan, built, a));
      const statuses = answers.map((a) => a.status);
      if (statuses.includes(201) && statuses.some((s) => s !== 201 && s !== 0 && s < 500))
        file(report, knownOpen, {
          kind: 'idempotency',
          target: target.name,
          route: built.route ?? plan.route,
          why: plan.why,
          detail: `the same append sent twice at once was answered ${statuses.join(' and ')}`,
          request: requestText(built.wire),
          answer: answers.map(answerText).join(' / '),
          status: statuses.find((s) => s !== 201) ?? 0,
          code: '',
        });
      if (ranges[0] && ranges[1] && ranges[0].join() !== ranges[1].join())
        file(report, knownOpen, {
          kind: 'idempotency',
          target: target.name,
          route: built.route ?? plan.route,
          why: plan.why,
          detail: `the same append sent twice at once got versions ${ranges[0].join('–')} and ${ranges[1].join('–')}`,
          request: requestText(built.wire),
          answer: answers.map(answerText).join(' / '),
          status: 201,
          code: '',
        });
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    report.ms = performance.now() - started;
    // pino's error level and above (the audit log writes at info whatever the level)
    const errors = target.serverErrors().filter((l) => /"level":(5|6)\d/.test(l));
    try {
      const final = await finalChecks(target, model, sender);
      for (const f of final.findings) file(report, knownOpen, f);
      report.stats.push(...final.stats);
    } catch (error) {
      file(report, knownOpen, {
        kind: 'projection',
        target: target.name,
        route: 'final checks',
        why: 'the checks after the requests could not finish',
        detail: error instanceof Error ? (error.stack ?? error.message) : String(error),
        request: '',
        answer: '',
        status: 0,
        code: '',
      });
    }
    if (report.fiveHundreds && errors.length)
      report.notes.push({
        kind: 'note',
        target: target.name,
        route: 'server log',
        why: 'the server logged errors',
        detail: errors.slice(0, 5).join('\n'),
        request: '',
        answer: '',
        status: 0,
        code: '',
      });
  } finally {
    sender.close();
  }
  if (options.reportFile) {
    const known = [...report.known].map(([k, list]) => ({ issue: k.issue, findings: list }));
    writeFileSync(
      options.reportFile,
      JSON.stringify(
        {
          ...report,
          byRoute: [...report.byRoute],
          byStatus: [...report.byStatus],
          byIntent: [...report.byIntent],
          timeByRoute: [...report.timeByRoute],
          known,
        },
        null,
        1,
      ),
    );
  }
  return report;
};

/** what is wrong with one answer, by the rules every answer keeps */
const judge = (
  route: string,
  answer: Answer,
  json: unknown,
  intent: Plan['intent'],
  method: string,
  mayGoUnanswered: boolean,
  finding: (kind: Finding['kind'], detail: string) => Finding,
): Finding[] => {
  const out: Finding[] = [];
  if (answer.status === 0) {
    if (!mayGoUnanswered) out.push(finding('no_answer', answer.failure ?? 'no answer'));
    return out;
  }
  const body = json as { error?: unknown; message?: unknown } | undefined;
  const code = typeof body?.error === 'string' ? body.error : undefined;
  // a HEAD's 503 that the same GET did not give again is a budget that ran out, not a failure
  const unrepeated503 = method === 'HEAD' && answer.status === 503 && answer.note !== undefined;
  if (answer.status >= 500 && !unrepeated503 && !(answer.status === 503 && code && ANSWERING_503.has(code)))
    out.push(finding('status_5xx', `${answer.status} ${code ?? ''}`.trim()));
  if (answer.status >= 400 && (method !== 'HEAD' || answer.body)) {
    const shapeOk =
      typeof body === 'object' &&
      body !== null &&
      !Array.isArray(body) &&
      typeof code === 'string' &&
      SNAKE.test(code) &&
      typeof body.message === 'string' &&
      body.message.length > 0 &&
      /json/.test(answer.headers['content-type'] ?? '');
    if (!shapeOk) out.push(finding('error_shape', 'not {"error": "<our code>", "message": "…"} as JSON'));
    else if (!API_CODES.has(code)) out.push(finding('note', `a code API.md does not name: ${code}`));
    if (STACK.test(answer.body)) out.push(finding('stack_trace', 'the answer shows a stack trace'));
  }
  // (a blob answers its bytes with the content type it was stored with, whatever they are)
  if (
    answer.status < 400 &&
    answer.body &&
    !route.includes('/v1/blobs/') &&
    /json/.test(answer.headers['content-type'] ?? '') &&
    json === undefined
  )
    out.push(finding('answer_shape', 'an answer that says it is JSON and is not'));
  if (intent === 'invalid' && answer.status >= 200 && answer.status < 300)
    out.push(finding('accepted_invalid', `invalid input answered ${answer.status}`));
  if (intent === 'valid' && [400, 413, 415].includes(answer.status))
    out.push(finding('note', `valid input refused: ${answer.status} ${code ?? ''}`));
  return out;
};

/** an append's outcome, kept for the log check; a replay must get its first answer again */
const track = (
  model: Model,
  append: NonNullable<Built['append']>,
  answer: Answer,
  json: unknown,
  finding: (kind: Finding['kind'], detail: string) => Finding,
  file: (f: Finding) => void,
) => {
  const r = json as { stream?: unknown; fromVersion?: unknown; toVersion?: unknown; position?: unknown };
  // no answer or a 5xx: the append may or may not have happened
  if (answer.status === 0 || answer.status >= 500) model.uncertain.add(append.stream);
  let range: [number, number] | undefined;
  if (answer.status === 201) {
    const ok =
      r?.stream === append.stream &&
      Number.isInteger(r.fromVersion) &&
      Number.isInteger(r.toVersion) &&
      (r.fromVersion as number) >= 1 &&
      (r.toVersion as number) >= (r.fromVersion as number) &&
      typeof r.position === 'string';
    if (!ok) file(finding('append_answer', 'a 201 without {stream, fromVersion, toVersion, position}'));
    else range = [r.fromVersion as number, r.toVersion as number];
    if (append.replayOf && range && (range[0] !== append.replayOf[0] || range[1] !== append.replayOf[1]))
      file(
        finding(
          'idempotency',
          `sent again, the append answered versions ${range.join('–')}, first ${append.replayOf.join('–')}`,
        ),
      );
  }
  model.appends.push({
    stream: append.stream,
    ids: append.ids,
    status: answer.status,
    ...(range ? { range } : {}),
  });
  return range;
};

const file = (report: FuzzReport, knownOpen: readonly KnownOpen[], f: Finding) => {
  if (f.kind === 'note') {
    report.notes.push(f);
    return;
  }
  const known = knownOpen.find((k) => (!k.targets || k.targets.includes(f.target)) && k.matches(f));
  if (known) {
    const list = report.known.get(known) ?? [];
    list.push(f);
    report.known.set(known, list);
  } else report.findings.push(f);
};
