// GET /run/{name}/events: Server-Sent Events of a run's phases and outputs, read over real
// HTTP; the plane's watch streams are counted to prove none outlives its reader.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { attachGateway, ownClient, settle, type Stack, startStack } from "./stack.ts";

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ gateway: { events: { heartbeatMs: 150, maxMs: 60_000 } } });
});
afterAll(() => stack.close());

interface SseEvent {
  id?: string;
  event?: string;
  data?: unknown;
}

/** Reads an event stream as frames (comments kept as `{event: ":comment"}`) until it ends or `until` says stop. */
async function readEvents(res: Response, until: (events: SseEvent[]) => boolean = () => false): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event: SseEvent = {};
      for (const line of frame.split("\n")) {
        if (line.startsWith(":")) event.event = ":comment";
        else {
          const [field, ...rest] = line.split(":");
          const text = rest.join(":").replace(/^ /, "");
          if (field === "data") event.data = JSON.parse(text);
          else if (field === "event") event.event = text;
          else if (field === "id") event.id = text;
        }
      }
      events.push(event);
      if (until(events)) {
        await reader.cancel();
        return events;
      }
    }
  }
  return events;
}

const start = async (task: string, x = 1) => (await stack.call(`/run-task/development/flytesnacks/${task}`, { method: "POST", json: { x } })).body.name as string;


describe("run events", () => {
  it("streams every phase change, then the outputs, then ends", async () => {
    const name = await start("wait-1s", 4);
    const res = await stack.fetch(`/run/${name}/events`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    expect(res.headers.get("cache-control")).toBe("no-cache");
    const events = (await readEvents(res)).filter((e) => e.event !== ":comment");
    const phases = events.filter((e) => e.event === "phase").map((e) => (e.data as { phase: string }).phase);
    // Started in queued or already running; always ends with succeeded, each phase once.
    expect(phases.at(-1)).toBe("succeeded");
    expect(phases).toContain("running");
    expect(new Set(phases).size).toBe(phases.length);
    expect(events.at(-2)).toMatchObject({ event: "phase", data: { name, phase: "succeeded", done: true, url: expect.stringContaining(name) } });
    expect(events.at(-1)).toMatchObject({ event: "outputs", data: { name, outputs: { x: 4 } } });
    expect(events.map((e) => e.id)).toEqual(events.map((_, i) => String(i + 1)));
    await settle(() => stack.plane.openWatches() === 0);
    expect(stack.plane.openWatches()).toBe(0);
  });

  it("for a run already ended: its phase and outputs at once", async () => {
    const name = await start("echo", 2);
    await stack.waitDone(name);
    const events = await readEvents(await stack.fetch(`/run/${name}/events`));
    expect(events.filter((e) => e.event !== ":comment")).toEqual([
      { id: "1", event: "phase", data: expect.objectContaining({ phase: "succeeded", done: true }) },
      { id: "2", event: "outputs", data: { name, outputs: { x: 2, msg: "hi" } } },
    ]);
  });

  it("an aborted run ends the stream with phase aborted and null outputs", async () => {
    const name = await start("slow");
    const res = await stack.fetch(`/run/${name}/events`);
    const reading = readEvents(res);
    await new Promise((r) => setTimeout(r, 100));
    await stack.call(`/run/${name}/abort`, { method: "POST" });
    const events = (await reading).filter((e) => e.event !== ":comment");
    expect(events.at(-2)).toMatchObject({ event: "phase", data: { phase: "aborted", done: true } });
    expect(events.at(-1)).toMatchObject({ event: "outputs", data: { outputs: null } });
  });

  it("sends heartbeats while nothing happens", async () => {
    const name = await start("slow");
    const res = await stack.fetch(`/run/${name}/events`);
    const events = await readEvents(res, (seen) => seen.filter((e) => e.event === ":comment").length >= 2);
    expect(events[0]).toMatchObject({ event: "phase", data: { phase: "running" } });
    expect(events.filter((e) => e.event === ":comment").length).toBe(2);
    await stack.call(`/run/${name}/abort`, { method: "POST" });
  });

  it("cancels the plane's watch when the client goes away", async () => {
    // Watches of earlier tests' readers may still be closing: start from none.
    await settle(() => stack.plane.openWatches() === 0);
    expect(stack.plane.openWatches()).toBe(0);
    const names = await Promise.all([start("slow"), start("slow"), start("slow")]);
    const controllers = names.map(() => new AbortController());
    const client = ownClient(stack.base);
    const readers = names.map(async (name, i) => readEvents(await client.fetch(`/run/${name}/events`, { signal: controllers[i]!.signal })));
    await settle(() => stack.plane.openWatches() >= 3);
    expect(stack.plane.openWatches()).toBe(3);
    for (const c of controllers) c.abort();
    // Each reader ends with the abort it asked for.
    for (const outcome of await Promise.allSettled(readers)) expect(outcome.status).toBe("rejected");
    await client.close();
    await settle(() => stack.plane.openWatches() === 0);
    expect(stack.plane.openWatches()).toBe(0);
    for (const name of names) await stack.call(`/run/${name}/abort`, { method: "POST" });
  });

  it("answers 404 for an unknown run and 401 without credentials, as JSON, before any stream", async () => {
    const missing = await stack.call("/run/rdoesnotexist0000000/events");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toMatch(/application\/json/);
    expect(missing.body).toMatchObject({ code: "not_found" });
    expect((await stack.call("/run/rdoesnotexist0000000/events", { token: null })).status).toBe(401);
  });
});

describe("run events: limits", () => {
  it("ends a stream at its longest life with a timeout event", async () => {
    const short = await startStack({ gateway: { events: { heartbeatMs: 10_000, maxMs: 400 } } });
    try {
      const name = (await short.call("/run-task/development/flytesnacks/slow", { method: "POST", json: { x: 1 } })).body.name;
      const started = Date.now();
      const events = await readEvents(await short.fetch(`/run/${name}/events`));
      expect(Date.now() - started).toBeLessThan(3000);
      expect(events.at(-1)).toMatchObject({ event: "timeout", data: { name } });
      await settle(() => short.plane.openWatches() === 0);
      expect(short.plane.openWatches()).toBe(0);
    } finally {
      await short.close();
    }
  });

  it("honours the task allow-list: a run of a task not allowed is 403, before any stream", async () => {
    const name = await start("echo");
    // A second gateway on the same plane that allows another task only.
    const limited = await attachGateway(stack.plane, stack.dir, { gateway: { taskAllowlist: ["development/flytesnacks/other-task"] } });
    try {
      const res = await limited.call(`/run/${name}/events`);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ code: "task_not_allowed" });
    } finally {
      await limited.closeGateway();
    }
  });

  it("ends open streams when the gateway closes, so shutdown is not held up", async () => {
    const own = await startStack({ gateway: { events: { heartbeatMs: 10_000, maxMs: 60_000 } } });
    const name = (await own.call("/run-task/development/flytesnacks/slow", { method: "POST", json: { x: 1 } })).body.name;
    const reading = readEvents(await own.fetch(`/run/${name}/events`));
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await own.closeGateway();
    expect(Date.now() - started).toBeLessThan(3000);
    const events = await reading;
    expect(events[0]).toMatchObject({ event: "phase" });
    await settle(() => own.plane.openWatches() === 0);
    expect(own.plane.openWatches()).toBe(0);
    await own.close();
  });
});
