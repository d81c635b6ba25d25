// The system tasks behind the build and prefetch groups: where they live, their task
// types and their interfaces. The gateway runs them with CreateRun like any task; the
// embedded control plane deploys them at start. They live in project "system", domain
// "production" — where flyte-sdk's remote image builder finds its `build-image` task —
// so they stay out of the user's own task listings and never clash with a user task's
// name; runs of them are created in the gateway's project/domain like every other run.
import { createHash } from "node:crypto";
import { toBinary } from "@bufbuild/protobuf";
import { TaskSpecSchema } from "./controlplane/idl.ts";
import { type CatalogTask, parseCatalog } from "./local/catalog.ts";

export const SYSTEM_PROJECT = "system";
export const SYSTEM_DOMAIN = "production";

export const BUILD_TASK = "build-image";
export const PREFETCH_TASK = "prefetch-hf-model";

export const IMAGE_BUILD_TYPE = "image_build";
export const HF_PREFETCH_TYPE = "hf_prefetch";

/** A task reference of the client for a system task, latest version. */
export const systemTaskRef = (name: string) => ({ domain: SYSTEM_DOMAIN, project: SYSTEM_PROJECT, name });

/** Whether a task identifier names the given system task (any version). */
export const isSystemTask = (id: { project: string; domain: string; name: string } | undefined, name: string) =>
  id?.project === SYSTEM_PROJECT && id.domain === SYSTEM_DOMAIN && id.name === name;

const DEFINITIONS = [
  {
    name: BUILD_TASK,
    type: IMAGE_BUILD_TYPE,
    description: "Builds a container image from an image spec with the plane's image builder",
    inputs: { spec: "json", target_image: "str" },
    outputs: { image: "str", spec: "json", dockerfile: "str", builder: "str", command: "list[str]" },
  },
  {
    name: PREFETCH_TASK,
    type: HF_PREFETCH_TYPE,
    description: "Downloads a Hugging Face model repository into a directory",
    inputs: {
      repo: "str",
      raw_data_path: "str",
      artifact_name: "str",
      architecture: "str",
      task: "str",
      modality: "list[str]",
      serial_format: "str",
      model_type: "str",
      short_description: "str",
      hf_token_key: "str",
      cpu: "str",
      memory: "str",
      disk: "str",
      force: "int",
    },
    outputs: {
      path: "str",
      uri: "str",
      artifact_name: "str",
      repo: "str",
      commit: "str",
      files: "json",
      total_bytes: "int",
      downloaded_bytes: "int",
    },
    // Every input but repo has the reference's default; "" stands for "not given".
    defaults: {
      raw_data_path: "",
      artifact_name: "",
      architecture: "",
      task: "auto",
      modality: ["text"],
      serial_format: "",
      model_type: "",
      short_description: "",
      hf_token_key: "HF_TOKEN",
      cpu: "2",
      memory: "8Gi",
      disk: "50Gi",
      force: 0,
    },
  },
] as const;

/**
 * The system tasks whose connector is in `types`, ready to store. The version is a hash of
 * the spec: a plane started by a newer build gets a new version (TaskService versions are
 * immutable) and "latest" picks it, while restarts with the same build change nothing.
 */
export function systemTasks(org: string, types: ReadonlySet<string>): CatalogTask[] {
  const wanted = DEFINITIONS.filter((d) => types.has(d.type));
  const tasks = parseCatalog({ tasks: wanted }, { org, project: SYSTEM_PROJECT, domain: SYSTEM_DOMAIN }, "system tasks");
  for (const task of tasks) {
    const digest = createHash("sha256").update(toBinary(TaskSpecSchema, task.spec)).digest("hex").slice(0, 12);
    task.id.version = `sys-${digest}`;
    if (task.spec.taskTemplate?.id) task.spec.taskTemplate.id.version = task.id.version;
  }
  return tasks;
}
