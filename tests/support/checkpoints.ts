import type { CheckpointAdvance } from '../../core/projection.ts';

/** a checkpoint advance of partition t/0 from `from` (null: none yet) to `to` */
export const advance = (from: bigint | null, to: bigint): CheckpointAdvance => ({
  topic: 't',
  partition: 0,
  from,
  to,
  lastEventAt: null,
  caughtUpAt: null,
});
