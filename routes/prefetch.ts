// Prefetch group: download a Hugging Face model with a run of the control plane's
// `prefetch-hf-model` system task, then read or abort that run. The run endpoints here are
// the run group's, limited to prefetch runs: any other run name is a 404, so they cannot
// reach runs of tasks the allow-list keeps from callers.
import { Type } from "typebox";
import type { Credentials } from "../src/controlplane/client.ts";
import { inputsFromJson } from "../src/controlplane/interface.ts";
import { badRequest, ErrorRef, notFound } from "../src/errors.ts";
import { type App, route } from "../src/gateway.ts";
import { IdempotencyHeaders, markReplayed, onceFor, startRunOnce } from "../src/idempotency.ts";
import { artifactName, checkPrefetchParams } from "../src/prefetch/params.ts";
import { AbortBody, checkedRun, Phase, RunIoBody, runInputsOutputs, runStatus, RunStatusBody } from "../src/runs.ts";
import { isSystemTask, PREFETCH_TASK, systemTaskRef } from "../src/system-tasks.ts";

/** Name of the prefetch run in the examples below. */
const PREFETCH_RUN = "rp8n3v6t1w4y7z2a5c9e";

const Text = (description: string, example: string) => Type.Optional(Type.String({ maxLength: 1024, description, examples: [example] }));
const PrefetchQuery = Type.Object({
  repo: Type.String({ minLength: 1, maxLength: 200, description: "Hugging Face repository id", examples: ["openai-community/gpt2"] }),
  raw_data_path: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: "Where to store the model (the embedded plane: a directory or file:// URI)", examples: ["gpt2"] })),
  artifact_name: Text("Name of the stored model (default: the repo's name, dots as dashes)", "gpt2"),
  architecture: Text("Model architecture, e.g. LlamaForCausalLM", "GPT2LMHeadModel"),
  task: Type.String({ default: "auto", maxLength: 1024, description: "Model task, e.g. generate, classify, embed", examples: ["generate"] }),
  modality: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16, description: "Modalities (default text); repeat for each", examples: [["text"]] })),
  serial_format: Text("Serialization format, e.g. safetensors", "safetensors"),
  model_type: Text("Model type, e.g. transformer", "transformer"),
  short_description: Text("Short description of the model", "GPT-2 small, 124M parameters"),
  hf_token_key: Type.String({ default: "HF_TOKEN", description: "Name of the secret holding the Hugging Face token", examples: ["HF_TOKEN"] }),
  cpu: Type.String({ default: "2", description: "CPU request of the prefetch task", examples: ["2"] }),
  memory: Type.String({ default: "8Gi", description: "Memory request of the prefetch task", examples: ["8Gi"] }),
  disk: Type.String({ default: "50Gi", description: "Disk request; a repository larger than this fails", examples: ["50Gi"] }),
  force: Type.Integer({ default: 0, minimum: 0, description: "Above 0: download again files already present", examples: [0] }),
});
// FastAPI reads flyte-sdk's list-typed `modality` from the body, as a bare JSON list.
// (Fastify validates a missing body as null; Null comes first so it is not coerced to [""].)
const ModalityBody = Type.Union([Type.Null(), Type.Array(Type.String({ maxLength: 64 }), { maxItems: 16, description: "modality, as flyte-sdk's app takes it" })]);

const RunNameParams = Type.Object({
  run_name: Type.String({ minLength: 1, maxLength: 128, description: "Name of the prefetch run", examples: [PREFETCH_RUN] }),
});

// Example answers of one prefetch of openai-community/gpt2 (with the parameters' examples) as it goes.
const PREFETCH_URL = `https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/${PREFETCH_RUN}`;
const MODEL_PATH = "/app/.flyte-webhook/prefetch/gpt2";
const MODEL_FILES = [
  { path: "config.json", size: 665, status: "downloaded" },
  { path: "merges.txt", size: 456318, status: "downloaded" },
  { path: "model.safetensors", size: 548105171, status: "downloaded" },
  { path: "tokenizer.json", size: 1355256, status: "downloaded" },
  { path: "vocab.json", size: 1042301, status: "downloaded" },
];
const MODEL_BYTES = MODEL_FILES.reduce((sum, f) => sum + f.size, 0);

const PrefetchStarted = Type.Object(
  { name: Type.String(), url: Type.String(), phase: Phase, done: Type.Boolean() },
  { examples: [{ name: PREFETCH_RUN, url: PREFETCH_URL, phase: "queued", done: false }] },
);
const PrefetchStatus = Type.Object(RunStatusBody.properties, {
  examples: [{ name: PREFETCH_RUN, phase: "running", url: PREFETCH_URL, done: false, progress: "2/5 files, 210.4 MiB of 525.4 MiB" }],
});
const PrefetchIo = Type.Object(
  { name: Type.String(), phase: Phase, inputs: RunIoBody.properties.inputs, outputs: RunIoBody.properties.outputs },
  {
    examples: [
      {
        name: PREFETCH_RUN,
        phase: "succeeded",
        inputs: {
          repo: "openai-community/gpt2",
          raw_data_path: "gpt2",
          artifact_name: "gpt2",
          architecture: "GPT2LMHeadModel",
          task: "generate",
          modality: ["text"],
          serial_format: "safetensors",
          model_type: "transformer",
          short_description: "GPT-2 small, 124M parameters",
          hf_token_key: "HF_TOKEN",
          cpu: "2",
          memory: "8Gi",
          disk: "50Gi",
          force: 0,
        },
        outputs: {
          path: MODEL_PATH,
          uri: `file://${MODEL_PATH}`,
          artifact_name: "gpt2",
          repo: "openai-community/gpt2",
          commit: "607a30d783dfa663caf39e06633721c8d4cfcd7e",
          files: MODEL_FILES,
          total_bytes: MODEL_BYTES,
          downloaded_bytes: MODEL_BYTES,
        },
      },
    ],
  },
);

export default async function prefetchRoutes(app: App) {
  const { controlPlane, consoleBase } = app.gateway;

  const prefetchRun = (creds: Credentials, name: string) =>
    checkedRun(controlPlane, creds, name, (task) => {
      if (!isSystemTask(task, PREFETCH_TASK)) throw notFound(`Prefetch run ${name} not found`);
    });

  route(app, "prefetch_hf_model", {
    schema: {
      description: "Starts downloading a Hugging Face model repository; answers at once with the run.",
      querystring: PrefetchQuery,
      headers: IdempotencyHeaders,
      body: ModalityBody,
      response: { 200: PrefetchStarted, 404: ErrorRef, 409: ErrorRef, 422: ErrorRef },
    },
    handler: async (request, reply) => {
      const q = request.query;
      const problems = checkPrefetchParams(q);
      if (problems.length > 0) throw badRequest(problems.join("; "), "invalid_prefetch_request");
      const task = await controlPlane.getTask(request.credentials, systemTaskRef(PREFETCH_TASK), { cached: true });
      const given = Object.fromEntries(Object.entries({ ...q, modality: q.modality ?? request.body ?? undefined }).filter(([, v]) => v !== undefined));
      const runSpec = {
        // A forced prefetch must not be answered from a cached earlier run.
        overwriteCache: q.force > 0,
        labels: { values: { model: artifactName(q.repo, q.artifact_name) } },
      };
      const started = await startRunOnce(controlPlane, request.credentials, task, inputsFromJson(task.spec, given), runSpec, onceFor(request, "prefetch_hf_model", given));
      markReplayed(reply, started);
      const { name, url, phase, done } = runStatus(consoleBase, started.action);
      return { name, url, phase, done };
    },
  });

  route(app, "get_prefetch_hf_model", {
    schema: { description: "Phase of a prefetch run, and its progress.", params: RunNameParams, response: { 200: PrefetchStatus, 404: ErrorRef } },
    handler: async (request) => runStatus(consoleBase, (await prefetchRun(request.credentials, request.params.run_name)).action),
  });

  route(app, "get_prefetch_hf_model_io", {
    schema: {
      description: "Inputs of a prefetch run, and once it has succeeded its outputs: the model's path, commit and files.",
      params: RunNameParams,
      response: { 200: PrefetchIo, 404: ErrorRef },
    },
    handler: async (request) => {
      const details = await prefetchRun(request.credentials, request.params.run_name);
      const { name, phase } = runStatus(consoleBase, details.action);
      return { name, phase, ...(await runInputsOutputs(controlPlane, request.credentials, details)) };
    },
  });

  route(app, "abort_prefetch_hf_model", {
    schema: {
      description: "Aborts a prefetch run; the download under way stops.",
      params: RunNameParams,
      querystring: Type.Object({
        reason: Type.String({ default: app.gateway.abortReason, maxLength: 1024, description: "Recorded with the abort", examples: ["model no longer needed"] }),
      }),
      response: {
        200: Type.Object(AbortBody.properties, { examples: [{ name: PREFETCH_RUN, status: "abort_requested", reason: "model no longer needed" }] }),
        404: ErrorRef,
        409: ErrorRef,
      },
    },
    handler: async (request) => {
      const { run_name: name } = request.params;
      const { reason } = request.query;
      await prefetchRun(request.credentials, name);
      await controlPlane.abortRun(request.credentials, name, reason);
      return { name, status: "abort_requested" as const, reason };
    },
  });
}
