// Build group: build a container image. The spec is checked here (every value ends up in
// a Dockerfile), named `<name>:<md5 of the spec>` as flyte-sdk names images, and built by
// a run of the control plane's `build-image` system task; the answer links to that run.
import { Type } from "typebox";
import { runUrl } from "../src/controlplane/console.ts";
import { inputsFromJson } from "../src/controlplane/interface.ts";
import { badRequest, ErrorRef } from "../src/errors.ts";
import { type App, route } from "../src/gateway.ts";
import { IdempotencyHeaders, markReplayed, onceFor, startRunOnce } from "../src/idempotency.ts";
import { checkBuildParams, imageRequest, PLATFORMS, specToJson } from "../src/image/spec.ts";
import { BUILD_TASK, systemTaskRef } from "../src/system-tasks.ts";

const Packages = (what: string, example: string) =>
  Type.Optional(Type.Array(Type.String({ maxLength: 256 }), { maxItems: 200, description: `${what}; repeat the parameter for each`, examples: [[example]] }));
const Platforms = Type.Optional(
  Type.Array(Type.String(), { maxItems: 2, description: `Platforms to build for: ${PLATFORMS.join(", ")}`, examples: [["linux/amd64"]] }),
);

const BuildQuery = Type.Object({
  base_image: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: "Base image; default the Flyte Debian image of python_version and flyte_version", examples: ["python:3.12-slim"] })),
  pip_packages: Packages("pip requirements", "pandas>=2"),
  apt_packages: Packages("Debian packages", "curl"),
  python_version: Type.Optional(Type.String({ description: "Python version, e.g. 3.12 (default 3.12)", examples: ["3.12"] })),
  flyte_version: Type.Optional(Type.String({ description: "Flyte release of the default base image, e.g. 2.6.5", examples: ["2.6.5"] })),
  platform: Platforms,
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: "Image repository name (default flyte); a registry in it means the image is pushed", examples: ["my-image"] })),
  pre: Type.Boolean({ default: false, description: "Allow pre-release pip packages", examples: [false] }),
});

// flyte-sdk's app declares the list parameters without Query(), so FastAPI reads them from
// a JSON body; clients written against it send them that way, and that works here too.
// (Fastify validates a missing body as null; Null comes first so it is never coerced.)
const BuildBody = Type.Union([
  Type.Null(),
  Type.Object({ pip_packages: Packages("pip requirements", "pandas>=2"), apt_packages: Packages("Debian packages", "curl"), platform: Platforms }, { additionalProperties: false }),
]);

export default async function buildRoutes(app: App) {
  const { controlPlane, consoleBase } = app.gateway;

  route(app, "build_image", {
    schema: {
      description:
        "Starts an image build: the Flyte Debian base image (or base_image), then apt_packages, then pip_packages. " +
        "Answers at once with the build run's link and the image name; the run fails if the image could not be built.",
      querystring: BuildQuery,
      headers: IdempotencyHeaders,
      body: BuildBody,
      response: {
        200: Type.Object({
          image_build_run_url: Type.String({ description: "Console link of the build run" }),
          image_name: Type.String({ description: "Image repository name" }),
          base_image: Type.String({ description: 'The base image, or "flyte-debian-base" for the default one' }),
          pip_packages: Type.Union([Type.Array(Type.String()), Type.Null()]),
          apt_packages: Type.Union([Type.Array(Type.String()), Type.Null()]),
          image_uri: Type.String({ description: "<name>:<tag> the build produces; the tag is a hash of the spec" }),
          run_name: Type.String({ description: "Name of the build run" }),
        }, {
          // The answer to the parameters' examples: the tag is the md5 flyte-sdk computes for that spec.
          examples: [
            {
              image_build_run_url: "https://flyte.example.com/v2/domain/development/project/flytesnacks/runs/rx4k2m9q7b1c5d8f3h6j",
              image_name: "my-image",
              base_image: "python:3.12-slim",
              pip_packages: ["pandas>=2"],
              apt_packages: ["curl"],
              image_uri: "my-image:ae1e3ad6470d716293f003e733b46a12",
              run_name: "rx4k2m9q7b1c5d8f3h6j",
            },
          ],
        }),
        404: ErrorRef,
        409: ErrorRef,
      },
    },
    handler: async (request, reply) => {
      const { query, body } = request;
      const params = {
        ...query,
        pip_packages: query.pip_packages ?? body?.pip_packages,
        apt_packages: query.apt_packages ?? body?.apt_packages,
        platform: query.platform ?? body?.platform,
      };
      const problems = checkBuildParams(params);
      if (problems.length > 0) throw badRequest(problems.join("; "), "invalid_image_spec");
      const { spec, name, image } = imageRequest(params);
      const task = await controlPlane.getTask(request.credentials, systemTaskRef(BUILD_TASK), { cached: true });
      const started = await startRunOnce(
        controlPlane,
        request.credentials,
        task,
        inputsFromJson(task.spec, { spec: specToJson(spec), target_image: image }),
        {},
        onceFor(request, "build_image", params),
      );
      markReplayed(reply, started);
      const run = started.name;
      const { domain, project } = controlPlane.settings;
      return {
        image_build_run_url: runUrl(consoleBase, domain, project, run),
        image_name: name,
        base_image: params.base_image ?? "flyte-debian-base",
        pip_packages: params.pip_packages ?? null,
        apt_packages: params.apt_packages ?? null,
        image_uri: image,
        run_name: run,
      };
    },
  });
}
