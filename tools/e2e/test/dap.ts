// A Debug Adapter Protocol client, just enough to do what VS Code does when it debugs a Python
// file: connect to debugpy, set a breakpoint, wait for the stop, read the stack, evaluate.
import { connect, type Socket } from 'node:net';

interface DapMessage {
  readonly seq: number;
  readonly type: 'request' | 'response' | 'event';
  readonly command?: string;
  readonly event?: string;
  readonly success?: boolean;
  readonly message?: string;
  readonly body?: Record<string, unknown>;
}

export class DapClient {
  private seq = 0;
  private buffer = Buffer.alloc(0);
  private readonly seen: DapMessage[] = [];
  private waiters: { match: (m: DapMessage) => boolean; resolve: (m: DapMessage) => void }[] = [];

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  /** Connects to a debugpy listening on 127.0.0.1:port, retrying while it starts. */
  static async connect(port: number, timeoutMs = 30_000): Promise<DapClient> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        });
        return new DapClient(socket);
      } catch (error) {
        if (Date.now() > until) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  private onData(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/Content-Length: *(\d+)/i.exec(this.buffer.subarray(0, end).toString('latin1'))?.[1]);
      if (this.buffer.length < end + 4 + length) return;
      const message = JSON.parse(this.buffer.subarray(end + 4, end + 4 + length).toString('utf8')) as DapMessage;
      this.buffer = this.buffer.subarray(end + 4 + length);
      this.seen.push(message);
      const waiter = this.waiters.find((w) => w.match(message));
      if (waiter) {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        waiter.resolve(message);
      }
    }
  }

  /** The first message (already received or to come) that matches. */
  wait(match: (m: DapMessage) => boolean, timeoutMs = 60_000): Promise<DapMessage> {
    const found = this.seen.find(match);
    if (found) {
      this.seen.splice(this.seen.indexOf(found), 1);
      return Promise.resolve(found);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching DAP message in ${timeoutMs} ms; seen: ${this.seen.map((m) => m.command ?? m.event).join(', ')}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  /** Sends a request; the response is waited for with `response`. */
  send(command: string, args: Record<string, unknown> = {}): number {
    const body = Buffer.from(JSON.stringify({ seq: ++this.seq, type: 'request', command, arguments: args }));
    this.socket.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`), body]));
    return this.seq;
  }

  async response(command: string): Promise<DapMessage> {
    const r = await this.wait((m) => m.type === 'response' && m.command === command);
    if (!r.success) throw new Error(`DAP ${command} failed: ${r.message ?? ''}`);
    return r;
  }

  event(name: string): Promise<DapMessage> {
    return this.wait((m) => m.type === 'event' && m.event === name);
  }

  close(): void {
    this.socket.destroy();
  }
}
