// The page's side of the memhp serve JSON API (src/web/server.ts).
import type { CommandResponse, MachineView } from "../../src/web/api-types.js";

export type { BlockView, CommandResponse, MachineView, TimelineView } from "../../src/web/api-types.js";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, init);
  if (res.status === 204) return undefined as T;
  const body = (await res.json().catch(() => ({ error: res.statusText }))) as T & { error?: string };
  if (!res.ok) throw new ApiError(res.status, body.error ?? `HTTP ${res.status}`);
  return body;
}

export const getState = (): Promise<MachineView> => call<MachineView>("api/state");

export const runCommand = (command: string): Promise<CommandResponse> =>
  call<CommandResponse>("api/command", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ command }),
  });

/** Boot the machine again; with `kernel`, on that Linux release. */
export const reset = (kernel?: string): Promise<MachineView> =>
  call<MachineView>(
    "api/reset",
    kernel === undefined
      ? { method: "POST" }
      : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ kernel }) },
  );

/** The strategy comparison (`memhp demo --json`), or undefined when the server has none. */
export async function getDemo(): Promise<unknown> {
  try {
    return await call<unknown>("api/demo");
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return undefined;
    throw e;
  }
}
