/**
 * The webhook store: endpoints (with their signing secrets) and the deliveries owed to them. A
 * delivery is a row from the moment a run's end is heard until it is delivered or given up, so a
 * restart loses none; on a fleet, rows are claimed so that one node sends each attempt.
 */
import type { DeliveryList, DeliveryState, WebhookDelivery, WebhookEndpoint } from '../../../shared/src/schemas/webhook';

export interface WebhookRecord extends WebhookEndpoint {
  /** The HMAC key deliveries are signed with. Never answered by the API after creation. */
  secret: string;
}

export type WebhookPatch = Partial<Omit<WebhookRecord, 'id' | 'created_at' | 'created_by'>>;

/** A delivery as it is first recorded: pending, due at `next_attempt_at`, its body made already. */
export interface NewDelivery {
  id: string;
  endpoint_id: string;
  event: 'run.ended';
  run_id: string;
  /** The exact bytes to POST (a redelivery sends the same). */
  payload: string;
  created_at: string;
  next_attempt_at: string;
  redelivery_of: string | null;
}

/** A delivery taken for an attempt, with where to send it and the key to sign it with. */
export interface ClaimedDelivery extends WebhookDelivery {
  payload: string;
  url: string;
  secret: string;
}

/** How an attempt went: what the row becomes. */
export interface AttemptResult {
  state: Exclude<DeliveryState, 'sending'>;
  response_status: number | null;
  error: string | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
}

/** An attempt that ended: the delivery, which of its attempts (the row is left alone if it has been claimed again since), when it was made, how it went. */
export interface AttemptEnded {
  id: string;
  attempt: number;
  lastAttemptAt: string;
  result: AttemptResult;
}

export interface DeliveryFilter {
  endpointId: string;
  state?: DeliveryState | undefined;
  limit: number;
  cursor?: string | undefined;
}

export interface WebhookStore {
  insert(endpoint: WebhookRecord): Promise<void>;
  update(id: string, patch: WebhookPatch): Promise<WebhookRecord | undefined>;
  get(id: string): Promise<WebhookRecord | undefined>;
  list(): Promise<WebhookRecord[]>;
  /** Deletes the endpoint and its deliveries; false when there was none. */
  remove(id: string): Promise<boolean>;
  /** Records new deliveries; a first delivery of the same run and event to the same endpoint is recorded once (answers how many were new). */
  enqueue(deliveries: NewDelivery[]): Promise<number>;
  /** An endpoint's deliveries, newest first. Throws InvalidCursorError on a malformed cursor. */
  deliveries(filter: DeliveryFilter): Promise<DeliveryList>;
  getDelivery(id: string): Promise<(WebhookDelivery & { payload: string }) | undefined>;
  /**
   * Takes up to `limit` deliveries due at `now` (pending, or sending with a lease run out: its sender
   * died) of enabled endpoints: each becomes `sending` until `leaseUntil`, its attempts counted. Rows
   * another node is taking are skipped, so each attempt is made by one node.
   */
  claim(now: string, leaseUntil: string, limit: number): Promise<ClaimedDelivery[]>;
  /** Records an attempt's end, unless the row has been taken again since (its lease ran out). */
  settle(ended: AttemptEnded): Promise<void>;
  /** When the next pending delivery of an enabled endpoint is due (null: none). */
  nextDue(): Promise<string | null>;
  /** Deletes delivered and failed deliveries created before `before`; answers how many went. */
  prune(before: string): Promise<number>;
}
