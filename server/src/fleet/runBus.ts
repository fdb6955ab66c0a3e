/**
 * Run changes and stop requests between the nodes of a fleet, over Redis pub/sub. Every node
 * publishes the changes it makes and hears everyone's (its own included), so `runs.onChange` on any
 * API node sees runs started, run and stopped anywhere. Pub/sub keeps nothing: a list that missed a
 * change during a Redis outage reads the store again, as a reconnecting client does anyway.
 */
import type { Run } from '../../../shared/src/schemas/run';
import type { RunFeed } from '../services/runFeed';
import type { Redis } from './redis';

export interface StopRequest {
  run_id: string;
  by: string | null;
}

export class RunBus implements RunFeed {
  private readonly listeners = new Set<(run: Run) => void>();
  private readonly stopListeners = new Set<(request: StopRequest) => void>();
  private readonly channels: { runs: string; stops: string };

  /** `publisher` sends; `subscriber` is a connection of its own (one in subscriber mode can do nothing else). */
  constructor(private readonly deps: { publisher: Redis; subscriber: Redis; prefix: string; onError: (message: string, e: unknown) => void }) {
    const { prefix, subscriber, onError } = deps;
    this.channels = { runs: `${prefix}:runs`, stops: `${prefix}:stops` };
    subscriber.on('message', (channel: string, message: string) => {
      try {
        if (channel === this.channels.runs) for (const listener of this.listeners) listener(JSON.parse(message) as Run);
        else if (channel === this.channels.stops) for (const listener of this.stopListeners) listener(JSON.parse(message) as StopRequest);
      } catch (e) {
        onError('a message from another node could not be read', e);
      }
    });
  }

  /** Listens for run changes, and on workers (`stops`) for stop requests. */
  async start(options: { stops: boolean }): Promise<void> {
    await this.deps.subscriber.subscribe(this.channels.runs, ...(options.stops ? [this.channels.stops] : []));
  }

  publish(run: Run): void {
    this.deps.publisher.publish(this.channels.runs, JSON.stringify(run)).catch((e: unknown) => this.deps.onError(`telling other nodes about run ${run.run_id} failed`, e));
  }

  subscribe(listener: (run: Run) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Asks every worker to stop the run (the one holding it does); answers how many workers heard it. Throws while Redis is unreachable. */
  requestStop(request: StopRequest): Promise<number> {
    return this.deps.publisher.publish(this.channels.stops, JSON.stringify(request));
  }

  onStop(listener: (request: StopRequest) => void): () => void {
    this.stopListeners.add(listener);
    return () => this.stopListeners.delete(listener);
  }
}
