import type { EventType } from '../core/log/event-types.ts';
import type { Authorize } from '../core/security/auth.ts';
import type { ProjectionDefinition } from '../projections/define.ts';
import { orderEventTypes } from '../sample/order-events.ts';
import { orders } from '../sample/orders-projection.ts';

/** What a logfront deployment knows: its event types and its projections. */
export interface Domain {
  readonly eventTypes: readonly EventType[];
  readonly projections: readonly ProjectionDefinition[];
  /** finer access rules than the scopes (per stream category, per projection); see docs/security.md */
  readonly authorize?: Authorize;
}

export const sampleDomain: Domain = { eventTypes: orderEventTypes, projections: [orders] };
