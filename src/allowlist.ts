// Allow-lists for tasks, apps and triggers, in the reference's formats. Matching is exact
// and case-sensitive on the already-decoded identifiers: no normalisation happens here,
// so an encoded, re-cased or look-alike name simply does not match.

export interface TaskRef {
  domain: string;
  project: string;
  name: string;
}

/** A matcher that answers whether an entity may be used; `undefined` list = everything. */
export type Allow<T> = (entity: T) => boolean;

const allowAll = () => true;

/**
 * Task entries: `domain/project/name` (exact), `project/name` (any domain), `name` (any
 * domain and project). An entry with more than three parts can never match.
 */
export function taskAllowlist(entries: readonly string[] | undefined): Allow<TaskRef> {
  if (entries === undefined) return allowAll;
  const exact = new Set<string>();
  const byProject = new Set<string>();
  const byName = new Set<string>();
  for (const entry of entries) {
    const parts = entry.split("/");
    if (parts.length === 3) exact.add(entry);
    else if (parts.length === 2) byProject.add(entry);
    else if (parts.length === 1) byName.add(entry);
  }
  return (task) =>
    exact.has(`${task.domain}/${task.project}/${task.name}`) ||
    byProject.has(`${task.project}/${task.name}`) ||
    byName.has(task.name);
}

/** App entries are app names. */
export function appAllowlist(entries: readonly string[] | undefined): Allow<string> {
  if (entries === undefined) return allowAll;
  const names = new Set(entries);
  return (app) => names.has(app);
}

export interface TriggerRef {
  taskName: string;
  triggerName: string;
}

/** Trigger entries: `task_name/trigger_name` (exact) or `trigger_name` (any task). */
export function triggerAllowlist(entries: readonly string[] | undefined): Allow<TriggerRef> {
  if (entries === undefined) return allowAll;
  const exact = new Set<string>();
  const byName = new Set<string>();
  for (const entry of entries) {
    const parts = entry.split("/");
    if (parts.length === 2) exact.add(entry);
    else if (parts.length === 1) byName.add(entry);
  }
  return (trigger) => exact.has(`${trigger.taskName}/${trigger.triggerName}`) || byName.has(trigger.triggerName);
}
