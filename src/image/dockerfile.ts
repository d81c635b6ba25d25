// The Dockerfile of an image spec, laid out like the ones flyte-sdk's local builder
// writes: uv copied in, a virtualenv for the spec's Python, an apt layer and a pip layer
// with BuildKit caches, and `_F_IMG_ID` naming the image so a container knows what it is.
// Values were checked by specFromJson; they are still shell-quoted as a second guard.
import type { ImageSpec } from "../controlplane/idl.ts";

const UV_IMAGE = "ghcr.io/astral-sh/uv:0.8.13";

/** POSIX shell quoting: safe words stay bare, anything else goes in single quotes. */
const quote = (word: string) => (/^[A-Za-z0-9._+=:,@%/~-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

export function dockerfile(spec: ImageSpec, image: string): string {
  const lines = [
    "# syntax=docker/dockerfile:1.10",
    `FROM ${UV_IMAGE} AS uv`,
    `FROM ${spec.baseImage}`,
    "",
    "USER root",
    "COPY --from=uv /uv /usr/bin/uv",
    "",
    "ARG VIRTUALENV=/opt/venv",
    "ARG UV_PYTHON=$VIRTUALENV/bin/python",
    "ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy VIRTUALENV=$VIRTUALENV UV_PYTHON=$UV_PYTHON",
    "",
    "# Base images that already carry the virtualenv (the Flyte ones) keep it.",
    `RUN if [ ! -f "$UV_PYTHON" ]; then uv venv $VIRTUALENV --python=${quote(spec.pythonVersion)}; fi`,
    'ENV PATH="$VIRTUALENV/bin:$PATH"',
  ];
  for (const { layer } of spec.layers) {
    if (layer.case === "aptPackages") {
      lines.push(
        "",
        "RUN --mount=type=cache,sharing=locked,mode=0777,target=/var/cache/apt,id=apt \\",
        `    apt-get update && apt-get install -y --no-install-recommends ${layer.value.packages.map(quote).join(" ")}`,
      );
    } else if (layer.case === "pipPackages") {
      const pre = layer.value.options?.pre ? "--pre " : "";
      lines.push(
        "",
        "RUN --mount=type=cache,sharing=locked,mode=0777,target=/root/.cache/uv,id=uv \\",
        `    uv pip install --python $UV_PYTHON ${pre}${layer.value.packages.map(quote).join(" ")}`,
      );
    }
  }
  lines.push("", `ENV _F_IMG_ID=${image}`, 'SHELL ["/bin/bash", "-c"]', "");
  return lines.join("\n");
}
