import type { Msg, NatsConnection, Subscription as NatsSubscription } from '@nats-io/transport-node';
import { AsyncQueue } from '../async-queue.js';
import type { ErrorReporter } from '../errors.js';
import type { BusMessage, Subscription } from './bus.js';

/** Publishes a reply through the bus (so replies are held during a reconnect and counted when dropped). */
export type ReplyPublisher = (reply: string, data: Uint8Array) => boolean;

/** One delivered message; respond() never throws. */
class NatsBusMessage implements BusMessage {
  readonly #msg: Msg;
  readonly #reply: ReplyPublisher;
  constructor(msg: Msg, reply: ReplyPublisher) {
    this.#msg = msg;
    this.#reply = reply;
  }
  get subject(): string {
    return this.#msg.subject;
  }
  get data(): Uint8Array {
    return this.#msg.data;
  }
  respond(data: Uint8Array): boolean {
    const to = this.#msg.reply;
    return to ? this.#reply(to, data) : false;
  }
}

/**
 * Callback-mode nats subscription feeding our AsyncQueue: `break` unsubscribes at once, drain() lets the server
 * confirm the UNSUB, hands over what already arrived, then ends the iterator.
 */
export class NatsBusSubscription implements Subscription {
  readonly subject: string;
  readonly #sub: NatsSubscription;
  readonly #q: AsyncQueue<BusMessage>;
  #drained: Promise<void> | undefined;

  constructor(
    nc: NatsConnection,
    subject: string,
    queue: string | undefined,
    report: ErrorReporter,
    reply: ReplyPublisher,
  ) {
    this.subject = subject;
    this.#q = new AsyncQueue<BusMessage>(() => this.#unsubscribe());
    this.#sub = nc.subscribe(subject, {
      queue,
      callback: (err, msg) => {
        if (err) {
          // Terminal for this subscription (a permission violation): end the stream, say why.
          report(
            new Error(`subscription ${subject}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }),
            'nats subscription',
          );
          this.#q.end();
          return;
        }
        this.#q.push(new NatsBusMessage(msg, reply));
      },
    });
    // Ends the stream whatever closed the subscription: drain, unsubscribe or the connection closing.
    void this.#sub.closed.then(
      () => this.#q.end(),
      () => this.#q.end(),
    );
  }

  #unsubscribe(): void {
    if (this.#sub.isClosed()) return;
    try {
      this.#sub.unsubscribe();
    } catch {
      // the connection is already closed, so is the subscription
    }
  }

  drain(): Promise<void> {
    this.#drained ??= this.#drain();
    return this.#drained;
  }

  async #drain(): Promise<void> {
    if (!this.#sub.isClosed()) {
      try {
        await this.#sub.drain();
      } catch {
        // closed connection or already closed subscription: nothing more will arrive either way
      }
    }
    this.#q.end();
  }

  [Symbol.asyncIterator](): AsyncIterator<BusMessage> {
    return this.#q[Symbol.asyncIterator]();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.drain();
  }
}
