import type { CheckpointAdvance } from '../../core/projection.ts';

/** a checkpoint advance of partition t/0 from `from` (null: none yet) to `to`; `more` overrides a field */
export const advance = (
  from: bigint | null,
  to: bigint,
  more: Partial<CheckpointAdvance> = {},
): CheckpointAdvance => ({
  topic: 't',
  partition: 0,
  from,
  to,
  lastEventAt: null,
  caughtUpAt: null,
  ...more,
});
