// The webhook connector as a Flyte deployment meets it: flyteidl2 AsyncConnectorService and
// ConnectorMetadataService over gRPC and Connect, in-process and from the built CLI; and
// webhook tasks built with webhookTask() deployed to the embedded plane with DeployTask.
import { spawn } from "node:child_process";
import { create } from "@bufbuild/protobuf";
import { Code, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { secretsFrom } from "../src/connectors/secrets.ts";
import { CONNECTOR_NAME, startConnectorServer } from "../src/connectors/service.ts";
import type { ConnectServer } from "../src/connect-server.ts";
import { AsyncConnectorService, ConnectorMetadataService, TaskExecution_Phase, TaskService, TaskSpecSchema } from "../src/controlplane/idl.ts";
import { fromLiteral, parseTypeString, toLiteral } from "../src/controlplane/literals.ts";
import { CatalogError, parseCatalog } from "../src/local/catalog.ts";
import { startLocalControlPlane } from "../src/local/server.ts";
import { webhookTask } from "../src/webhook-task.ts";
import { type Recorder, startRecorder } from "./recorder.ts";
import { type Stack, startStack, TOKEN } from "./stack.ts";

let rec: Recorder;
let server: ConnectServer;
beforeAll(async () => {
  rec = await startRecorder();
  rec.on("/fail", (_req, res) => void res.writeHead(503, { "content-type": "text/plain" }).end("try later"));
  server = await startConnectorServer({ addr: "127.0.0.1:0", secrets: secretsFrom({ env: { FLYTE_SECRET_OWN: "own-value-1" } }) });
});
afterAll(async () => {
  await server?.close();
  await rec?.close();
});

const strInput = (name: string, value: string) => ({ literals: [{ name, value: toLiteral(value, parseTypeString("str"), name) }] });
const transports = () => ({
  grpc: createGrpcTransport({ baseUrl: server.url }),
  connect: createConnectTransport({ baseUrl: server.url, httpVersion: "2" }),
});

describe("AsyncConnectorService", () => {
  it.each(["grpc", "connect"] as const)("CreateTask makes the call; GetTask returns phase and outputs (%s)", async (protocol) => {
    const client = createClient(AsyncConnectorService, transports()[protocol]);
    const { spec } = webhookTask({ name: "notify", url: `${rec.url}/hook`, inputs: { user: "str" }, data: { who: "{inputs.user}" }, showUrl: true });
    const before = rec.received.length;
    const created = await client.createTask({ template: spec.taskTemplate, inputs: strInput("user", protocol), outputPrefix: "s3://bucket/x" });
    expect(rec.received.length).toBe(before + 1);
    expect(JSON.parse(rec.received.at(-1)!.body)).toEqual({ who: protocol });

    const { resource } = await client.getTask({ resourceMeta: created.resourceMeta, taskCategory: { name: "webhook", version: 0 } });
    expect(resource?.phase).toBe(TaskExecution_Phase.SUCCEEDED);
    const info = resource?.outputs?.literals.find((l) => l.name === "info");
    expect(fromLiteral(info?.value)).toEqual({ status_code: 200, response_data: { ok: true }, url: `${rec.url}/hook` });
    // Delete is a no-op that succeeds; GetTask still answers afterwards (nothing was held).
    await client.deleteTask({ resourceMeta: created.resourceMeta });
    expect((await client.getTask({ resourceMeta: created.resourceMeta })).resource?.phase).toBe(TaskExecution_Phase.SUCCEEDED);
  });

  it("reports a failed call as FAILED with the message", async () => {
    const client = createClient(AsyncConnectorService, transports().grpc);
    const { spec } = webhookTask({ name: "fails", url: `${rec.url}/fail` });
    const created = await client.createTask({ template: spec.taskTemplate });
    const { resource } = await client.getTask({ resourceMeta: created.resourceMeta });
    expect(resource).toMatchObject({ phase: TaskExecution_Phase.FAILED, message: `webhook POST ${rec.url}/fail answered 503: try later` });
  });

  it("uses the secrets the cluster sends with the request, then its own, and shows neither", async () => {
    const client = createClient(AsyncConnectorService, transports().grpc);
    const { spec } = webhookTask({
      name: "secret",
      url: `${rec.url}/hook?k={secrets.CLUSTER}`,
      headers: { "X-Own": "{secrets.OWN}" },
      showUrl: true,
    });
    const created = await client.createTask({ template: spec.taskTemplate, connection: { secrets: { CLUSTER: "cluster-value-2" } } });
    const got = rec.received.at(-1)!;
    expect(got.query.get("k")).toBe("cluster-value-2");
    expect(got.headers["x-own"]).toBe("own-value-1");
    const { resource } = await client.getTask({ resourceMeta: created.resourceMeta });
    expect(fromLiteral(resource?.outputs?.literals[0]?.value)).toMatchObject({ url: `${rec.url}/hook?k=***` });
  });

  it("refuses task types it does not serve and resource_meta it did not write", async () => {
    const client = createClient(AsyncConnectorService, transports().connect);
    const { spec } = webhookTask({ name: "x", url: `${rec.url}/hook` });
    await expect(client.createTask({ template: { ...spec.taskTemplate!, type: "spark" } })).rejects.toMatchObject({ code: Code.InvalidArgument });
    await expect(client.getTask({ resourceMeta: new Uint8Array([0xff, 0xff, 0xff]) })).rejects.toMatchObject({ code: Code.InvalidArgument });
  });
});

describe("ConnectorMetadataService", () => {
  it("names the webhook task type", async () => {
    const client = createClient(ConnectorMetadataService, transports().grpc);
    const { connectors } = await client.listConnectors({});
    expect(connectors.map((c) => ({ name: c.name, categories: c.supportedTaskCategories.map((t) => [t.name, t.version]) }))).toEqual([
      { name: CONNECTOR_NAME, categories: [["webhook", 0]] },
    ]);
    expect((await client.getConnector({ name: CONNECTOR_NAME })).connector?.name).toBe(CONNECTOR_NAME);
    await expect(client.getConnector({ name: "other" })).rejects.toMatchObject({ code: Code.NotFound });
  });
});

describe("flyte-webhook connector (built CLI)", () => {
  it("listens on --port, asks for keys when configured, and serves the metadata", async () => {
    const cli = new URL("../dist/cli.js", import.meta.url).pathname;
    const child = spawn(process.execPath, [cli, "connector", "--port", "0"], {
      env: { PATH: process.env.PATH ?? "", FLYTE_CONNECTOR_API_KEYS: "conn-key-123=propeller" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      let out = "";
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line: ${out}`)), 10_000);
        child.stdout.on("data", (d) => {
          out += d;
          const match = /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
      });
      expect(out).not.toContain("conn-key-123");
      const client = createClient(ConnectorMetadataService, createGrpcTransport({ baseUrl: url }));
      await expect(client.listConnectors({})).rejects.toMatchObject({ code: Code.Unauthenticated });
      const { connectors } = await client.listConnectors({}, { headers: { authorization: "Bearer conn-key-123" } });
      expect(connectors[0]?.supportedTaskCategories[0]?.name).toBe("webhook");
    } finally {
      child.kill("SIGTERM");
    }
  });
});

describe("webhookTask() deployed to the embedded plane", () => {
  let stack: Stack;
  beforeAll(async () => {
    stack = await startStack();
  });
  afterAll(() => stack.close());
  const headers = { authorization: `Bearer ${TOKEN}` };

  it("deploys with DeployTask and runs through the gateway", async () => {
    const tasks = createClient(TaskService, createConnectTransport({ baseUrl: stack.plane.url, httpVersion: "2" }));
    const { taskId, spec, catalogEntry } = webhookTask({
      name: "deployed-hook",
      version: "2026.11",
      url: `${rec.url}/deployed/{inputs.id}`,
      method: "put",
      inputs: { id: "int", note: "str" },
      defaults: { note: "none" },
      data: { note: "{inputs.note}" },
      showData: true,
    });
    expect(catalogEntry).toMatchObject({ name: "deployed-hook", type: "webhook", config: { method: "PUT" } });
    await tasks.deployTask({ taskId, spec }, { headers });
    const { status, body } = await stack.call("/run-task/development/flytesnacks/deployed-hook", { method: "POST", json: { id: 5 } });
    expect(status).toBe(200);
    expect((await stack.waitDone(body.name)).phase).toBe("succeeded");
    const got = rec.received.at(-1)!;
    expect([got.method, got.path, got.body]).toEqual(["PUT", "/deployed/5", '{"note":"none"}']);
    const io = await stack.call(`/run/${body.name}/io`);
    expect(io.body.outputs.info).toEqual({ status_code: 200, response_data: { ok: true }, input_data: { note: "none" } });
  });

  it("refuses a bad configuration at deploy time and at catalog load, naming the field", async () => {
    expect(() => webhookTask({ name: "bad", url: "http://x", timeout: "forever" })).toThrow(/config\.timeout must be/);
    const tasks = createClient(TaskService, createConnectTransport({ baseUrl: stack.plane.url, httpVersion: "2" }));
    const { taskId, spec } = webhookTask({ name: "bad", url: "http://x/{inputs.a}", inputs: { a: "str" } });
    const broken = create(TaskSpecSchema, { ...spec, taskTemplate: { ...spec.taskTemplate!, custom: { url: "http://x", method: "TRACE" } } });
    await expect(tasks.deployTask({ taskId, spec: broken }, { headers })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "task bad: config.method must be one of GET, POST, PUT, PATCH, DELETE, got \"TRACE\"",
    });
    const undeclared = create(TaskSpecSchema, { ...spec, taskTemplate: { ...spec.taskTemplate!, custom: { url: "http://x/{inputs.b}" } } });
    await expect(tasks.deployTask({ taskId, spec: undeclared }, { headers })).rejects.toMatchObject({ rawMessage: expect.stringContaining('the task has no input "b"') });
    const catalog = parseCatalog({ tasks: [{ name: "t", type: "webhook", config: { url: 5 } }] }, { org: "", project: "p", domain: "d" });
    const starting = startLocalControlPlane({ addr: "127.0.0.1:0", dbPath: ":memory:", apiKeys: [], catalog });
    await expect(starting).rejects.toThrow(CatalogError);
    await expect(starting).rejects.toThrow("catalog task t: config.url is required: the http(s) URL to call");
  });
});
