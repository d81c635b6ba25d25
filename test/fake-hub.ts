// A Hugging Face Hub on loopback for tests: the three API calls huggingface_hub makes for
// a snapshot (revision → commit, recursive file tree paged by Link headers, resolve →
// file, with large files redirected to a CDN on another origin), gated repositories that
// need the token, the hub's error codes, and a slow mode to catch a download mid-way.
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";

export interface FakeRepo {
  files: Record<string, Buffer>;
  gated?: boolean;
  /** The revision call never answers (deadline tests). */
  hang?: boolean;
  /** Where large files are redirected instead of the CDN (a hostile hub). */
  redirectTo?: string;
}

export interface HubRequest {
  path: string;
  authorization: string | undefined;
  /** Whether the client went away before the answer was complete. */
  closedEarly: boolean;
}

export const GOOD_TOKEN = "hf_good_token_1234567890";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const PAGE_SIZE = 2;
/** Files from this size on are served by the CDN, as the Hub does for LFS files. */
const LFS_THRESHOLD = 1024 * 1024;

export interface FakeHub {
  url: string;
  cdnUrl: string;
  repos: Record<string, FakeRepo>;
  requests: HubRequest[];
  cdnRequests: HubRequest[];
  /** Bytes a second the CDN sends large files at; 0: as fast as it can. */
  throttle: number;
  close(): Promise<void>;
}

export function modelRepo(): FakeRepo {
  return {
    files: {
      "config.json": Buffer.from(JSON.stringify({ model_type: "llama", architectures: ["LlamaForCausalLM"] })),
      "README.md": Buffer.from("# tiny model\n"),
      "tokenizer/vocab.txt": Buffer.from("a\nb\nc\n"),
      "model.safetensors": randomBytes(6 * 1024 * 1024 + 123),
    },
  };
}

const listen = (server: Server) =>
  new Promise<string>((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(`http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`);
    });
  });

function record(list: HubRequest[], req: IncomingMessage, res: ServerResponse): HubRequest {
  const entry: HubRequest = { path: decodeURIComponent(req.url ?? ""), authorization: req.headers.authorization, closedEarly: false };
  list.push(entry);
  res.on("close", () => {
    if (!res.writableFinished) entry.closedEarly = true;
  });
  return entry;
}

async function send(res: ServerResponse, body: Buffer, throttle: number) {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": body.length });
  if (!throttle) return void res.end(body);
  const chunk = 64 * 1024;
  for (let offset = 0; offset < body.length && !res.destroyed; offset += chunk) {
    res.write(body.subarray(offset, offset + chunk));
    await new Promise((r) => setTimeout(r, (chunk / throttle) * 1000));
  }
  res.end();
}

export async function startFakeHub(repos: Record<string, FakeRepo>): Promise<FakeHub> {
  const hub = { repos, requests: [] as HubRequest[], cdnRequests: [] as HubRequest[], throttle: 0 } as FakeHub;

  const cdn = createServer((req, res) => {
    record(hub.cdnRequests, req, res);
    const match = /^\/blobs\/([^/]+\/[^/]+)\/(.+)$/.exec(decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname));
    const body = match ? hub.repos[match[1]!]?.files[match[2]!] : undefined;
    if (!body) return void res.writeHead(404).end();
    void send(res, body, hub.throttle);
  });

  const server = createServer((req, res) => {
    record(hub.requests, req, res);
    const url = new URL(req.url ?? "/", "http://x");
    const path = decodeURIComponent(url.pathname);
    const error = (status: number, code?: string) => {
      res.writeHead(status, { "content-type": "application/json", ...(code ? { "x-error-code": code } : {}) });
      res.end(JSON.stringify({ error: `fake hub says ${status}` }));
    };
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)$/.exec(path);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repoId = api?.[1] ?? resolve?.[1];
    const repo = repoId ? hub.repos[repoId] : undefined;
    const auth = req.headers.authorization;
    // The Hub's answers: a wrong token is refused everywhere, a gated repo needs the right
    // one, and an unknown repo is "not found" without saying more.
    if (auth && auth !== `Bearer ${GOOD_TOKEN}`) return error(401);
    if (!repo || !repoId) return error(401, "RepoNotFound");
    if (repo.gated && !auth) return error(401, "GatedRepo");
    if (api?.[2] === "revision") {
      if (repo.hang) return; // never answers
      res.writeHead(200, { "content-type": "application/json" });
      return void res.end(JSON.stringify({ id: repoId, sha: COMMIT, gated: repo.gated ? "auto" : false, siblings: Object.keys(repo.files).map((f) => ({ rfilename: f })) }));
    }
    if (api?.[2] === "tree") {
      if (api[3] !== COMMIT) return error(404, "RevisionNotFound");
      const entries = Object.entries(repo.files).flatMap(([name, body]) => [
        ...(name.includes("/") ? [{ type: "directory", path: name.split("/")[0], oid: "d" }] : []),
        { type: "file", path: name, size: body.length, oid: "f", ...(body.length >= LFS_THRESHOLD ? { lfs: { oid: "sha", size: body.length, pointerSize: 134 } } : {}) },
      ]);
      const cursor = Number(url.searchParams.get("cursor") ?? 0);
      const page = entries.slice(cursor, cursor + PAGE_SIZE);
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (cursor + PAGE_SIZE < entries.length) {
        headers.link = `<${hub.url}/api/models/${repoId}/tree/${COMMIT}?recursive=true&cursor=${cursor + PAGE_SIZE}>; rel="next"`;
      }
      res.writeHead(200, headers);
      return void res.end(JSON.stringify(page));
    }
    if (resolve) {
      const body = repo.files[resolve[3]!];
      if (resolve[2] !== COMMIT || !body) return error(404, "EntryNotFound");
      if (body.length >= LFS_THRESHOLD) {
        res.writeHead(302, { location: repo.redirectTo ?? `${hub.cdnUrl}/blobs/${repoId}/${encodeURIComponent(resolve[3]!)}` });
        return void res.end();
      }
      return void send(res, body, 0);
    }
    error(404);
  });

  hub.url = await listen(server);
  hub.cdnUrl = await listen(cdn);
  hub.close = async () => {
    server.closeAllConnections();
    cdn.closeAllConnections();
    await Promise.all([new Promise((r) => server.close(r)), new Promise((r) => cdn.close(r))]);
  };
  return hub;
}
