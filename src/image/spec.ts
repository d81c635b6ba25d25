// Image specs for build_image: the flyteidl2 ImageSpec built from the endpoint's
// parameters, the checks that keep every value safe to put in a Dockerfile, and the image
// name, `<name>:<md5 of the spec>`, computed exactly as flyte-sdk's Image does so that an
// image built here has the tag flyte-sdk expects for the same spec.
import { createHash } from "node:crypto";
import { create, fromJson, type JsonValue, toJson } from "@bufbuild/protobuf";
import { type ImageSpec, ImageSpecSchema } from "../controlplane/idl.ts";

export const PLATFORMS = ["linux/amd64", "linux/arm64"] as const;
/** flyte-sdk's default image name and the release whose base image the default spec uses. */
export const DEFAULT_IMAGE_NAME = "flyte";
export const DEFAULT_FLYTE_VERSION = "2.6.5";
export const DEFAULT_PYTHON_VERSION = "3.12";
const DEFAULT_BASE_REGISTRY = "ghcr.io/flyteorg";

// What may reach a Dockerfile. Everything else is refused before a run exists, so no value
// can add instructions or shell syntax to the build.
const PIP_SPEC =
  /^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(?:\[[A-Za-z0-9._-]+(?:,[A-Za-z0-9._-]+)*\])?(?:(?:===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9.*+!_-]+(?:,(?:===|==|!=|<=|>=|~=|<|>)[A-Za-z0-9.*+!_-]+)*)?$/;
const APT_SPEC = /^[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+~:-]+)?$/;
const PATH_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const REGISTRY = "(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]{1,5})?/)";
const REPOSITORY = new RegExp(`^${REGISTRY}?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const IMAGE_REF = new RegExp(`^${REGISTRY}?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`);
const PYTHON_VERSION = /^(3)\.(\d{1,2})(?:\.\d{1,3})?$/;
const FLYTE_VERSION = /^v?\d+\.\d+\.\d+(?:[A-Za-z0-9.+-]{0,40})$/;
const MAX_PACKAGES = 200;

export interface BuildParams {
  base_image?: string | undefined;
  pip_packages?: readonly string[] | undefined;
  apt_packages?: readonly string[] | undefined;
  python_version?: string | undefined;
  flyte_version?: string | undefined;
  platform?: readonly string[] | undefined;
  name?: string | undefined;
  pre?: boolean | undefined;
}

export interface ImageRequest {
  spec: ImageSpec;
  /** Repository part of the image name (`flyte`, `ghcr.io/me/app`). */
  name: string;
  /** `<name>:<tag>`: what the build tags and what runs refer to. */
  image: string;
}

/** Problems with the parameters, each naming the parameter; empty when all are valid. */
export function checkBuildParams(p: BuildParams): string[] {
  const problems: string[] = [];
  const each = (param: string, values: readonly string[] | undefined, pattern: RegExp, example: string) => {
    if (values && values.length > MAX_PACKAGES) problems.push(`${param}: at most ${MAX_PACKAGES} entries`);
    for (const value of values ?? []) {
      if (value.length > 256 || !pattern.test(value)) problems.push(`${param}: ${JSON.stringify(value)} is not valid; expected e.g. ${example}`);
    }
  };
  each("pip_packages", p.pip_packages, PIP_SPEC, `"numpy", "pandas>=2.1,<3" or "uvicorn[standard]==0.30.1"`);
  each("apt_packages", p.apt_packages, APT_SPEC, `"curl" or "git=1:2.39.2-1.1"`);
  each("platform", p.platform, new RegExp(`^(?:${PLATFORMS.join("|")})$`), PLATFORMS.join(" or "));
  if (p.base_image !== undefined && (p.base_image.length > 512 || !IMAGE_REF.test(p.base_image))) {
    problems.push(`base_image: ${JSON.stringify(p.base_image)} is not an image reference such as python:3.12-slim or ghcr.io/org/image:tag`);
  }
  if (p.name !== undefined && (p.name.length > 256 || !REPOSITORY.test(p.name))) {
    problems.push(`name: ${JSON.stringify(p.name)} is not an image repository name such as my-image or ghcr.io/org/my-image`);
  }
  if (p.python_version !== undefined && !PYTHON_VERSION.test(p.python_version)) {
    problems.push(`python_version: ${JSON.stringify(p.python_version)} is not a Python 3 version such as 3.12`);
  }
  if (p.flyte_version !== undefined && !FLYTE_VERSION.test(p.flyte_version)) {
    problems.push(`flyte_version: ${JSON.stringify(p.flyte_version)} is not a release version such as 2.6.5`);
  }
  return problems;
}

/**
 * The spec and image name flyte-sdk's webhook app means to build: the Flyte Debian base
 * image of a Python and Flyte release (multi-arch), or the given base image (linux/amd64),
 * then the apt layer, then the pip layer. Call after checkBuildParams found no problem.
 */
export function imageRequest(p: BuildParams): ImageRequest {
  const python = PYTHON_VERSION.exec(p.python_version ?? DEFAULT_PYTHON_VERSION)!;
  const pythonVersion = `${python[1]}.${python[2]}`;
  const flyteVersion = p.flyte_version ?? DEFAULT_FLYTE_VERSION;
  const baseImage =
    p.base_image ?? `${DEFAULT_BASE_REGISTRY}/${DEFAULT_IMAGE_NAME}:py${pythonVersion}-${flyteVersion.startsWith("v") ? flyteVersion : `v${flyteVersion}`}`;
  const layers: ImageSpec["layers"] = [];
  if (p.apt_packages?.length) layers.push({ layer: { case: "aptPackages", value: { packages: [...p.apt_packages] } } } as ImageSpec["layers"][number]);
  if (p.pip_packages?.length) {
    layers.push({ layer: { case: "pipPackages", value: { packages: [...p.pip_packages], options: { pre: p.pre ?? false } } } } as ImageSpec["layers"][number]);
  }
  const platform = p.platform?.length ? [...new Set(p.platform)] : p.base_image ? ["linux/amd64"] : [...PLATFORMS];
  const spec = create(ImageSpecSchema, { baseImage, pythonVersion, layers, platform });
  const name = p.name ?? DEFAULT_IMAGE_NAME;
  return { spec, name, image: `${name}:${specDigest(spec)}` };
}

/**
 * flyte-sdk's `Image._get_hash_digest`: md5 over the base image, then each layer's hash
 * input in order (apt: the packages joined; pip: index options, "True" when pre-releases
 * are allowed, then the packages joined). Python version and platforms are not part of it,
 * as in flyte-sdk: the default base image's tag already carries the Python version.
 */
export function specDigest(spec: ImageSpec): string {
  const md5 = createHash("md5");
  md5.update(spec.baseImage);
  for (const { layer } of spec.layers) {
    if (layer.case === "aptPackages") md5.update(layer.value.packages.join(""));
    else if (layer.case === "pipPackages") {
      const o = layer.value.options;
      md5.update(`${o?.indexUrl ?? ""}${(o?.extraIndexUrls ?? []).join("")}${o?.pre ? "True" : ""}${o?.extraArgs ?? ""}`);
      md5.update((layer.value.packages ?? []).join(""));
    } else throw new Error(`layer ${layer.case ?? "(empty)"} is not supported by this image builder`);
  }
  return md5.digest("hex");
}

/** The spec as the JSON a run carries (protobuf JSON of flyteidl2.imagebuilder.ImageSpec). */
export const specToJson = (spec: ImageSpec) => toJson(ImageSpecSchema, spec) as Record<string, unknown>;

/**
 * A spec read back from a run's inputs, checked as strictly as the endpoint checks its
 * parameters: a run created directly over the API gets no easier path into a Dockerfile.
 */
export function specFromJson(value: unknown): ImageSpec {
  const spec = fromJson(ImageSpecSchema, value as JsonValue);
  const apt: string[] = [];
  const pip: string[] = [];
  for (const { layer } of spec.layers) {
    if (layer.case === "aptPackages") apt.push(...layer.value.packages);
    else if (layer.case === "pipPackages") {
      const o = layer.value.options;
      if (o?.indexUrl || o?.extraIndexUrls.length || o?.extraArgs) throw new Error("pip index options are not supported by this image builder");
      pip.push(...layer.value.packages);
    } else throw new Error(`layer ${layer.case ?? "(empty)"} is not supported by this image builder`);
  }
  const problems = checkBuildParams({ base_image: spec.baseImage, apt_packages: apt, pip_packages: pip, platform: spec.platform, python_version: spec.pythonVersion });
  if (!spec.baseImage) problems.push("base_image: is required");
  if (problems.length > 0) throw new Error(`invalid image spec: ${problems.join("; ")}`);
  return spec;
}

/** Image names are `<repository>:<tag>`; checks one before it is handed to a builder. */
export function isImageName(value: string): boolean {
  return value.length <= 512 && IMAGE_REF.test(value) && /:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(value);
}
