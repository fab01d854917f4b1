/**
 * The process each sandboxed parse runs in (sandbox.ts forks it under its caps). The parent sends
 * one message, `{ entry, data }`; this process loads `entry`, says `started` (a death before that
 * says nothing about the file), and posts what the entry's `run(data, progress)` returns: a
 * `result` or a `refused` message. A throw ends the process with an error exit, which the parent
 * reads as a crash. Erasable TypeScript importing only Node (see workerEntry).
 */

type Outcome = { type: 'result'; value: unknown } | { type: 'refused'; reason: string };
interface SandboxEntry {
  run(data: unknown, progress: (percent: number) => void): Promise<Outcome>;
}

// The parent gone (its worker killed, the API stopped): no orphan goes on parsing.
process.on('disconnect', () => process.exit(0));

const send = (message: unknown): Promise<void> =>
  new Promise((resolve, reject) => {
    process.send!(message, undefined, undefined, (err: Error | null) => (err ? reject(err) : resolve()));
  });

const { entry, data } = await new Promise<{ entry: string; data: unknown }>((resolve) => process.once('message', resolve));
const mod = (await import(entry)) as SandboxEntry;
await send({ type: 'started' });
const outcome = await mod.run(data, (percent) => void send({ type: 'progress', percent }).catch(() => undefined));
await send(outcome);
