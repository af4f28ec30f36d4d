// `memhp fuzz --oracle`: random valid scenarios (./generate.ts, ./generate-rfc.ts)
// on the real kernel and on the model, judged as `memhp corpus` judges the
// corpus (./oracle.ts). Every kind of disagreement is shrunk once, by delta
// debugging over the statements with the real kernel in the loop, and saved as
// a corpus candidate with the kernel's trace beside it.
//
// Seeds: the campaign seed S drives a generator that hands each scenario its own
// 32-bit seed; scenario i runs on x86_64 when i is even and arm64 when odd
// (unless --arch), so N scenarios cover both arches evenly and a seed names the
// same scenarios every time. The kernel's answers are the kernel's: a run is
// reproducible as far as the guest is (free-page counts are not).

import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Rng } from "../mm/random.js";
import type { KernelVersion } from "../kernel/linux_version.js";
import type { OracleKernel } from "../oracle/cache.js";
import type { Arch } from "../scenario/ast.js";
import { traceFlavour } from "../scenario/corpus.js";
import { formatDifferences } from "../scenario/diff.js";
import type { Divergence } from "../scenario/divergences.js";
import { ScenarioError, parseScenario } from "../scenario/parse.js";
import { formatTrace, readTrace } from "../scenario/trace.js";
import { generateStock } from "./generate.js";
import { generateRfc } from "./generate-rfc.js";
import { listedProblem, loadFuzzDivergences, type FuzzJudgement } from "./oracle-divergences.js";
import {
  differenceSignature,
  judge,
  runOnKernel,
  runOnModel,
  unexpectedWarnings,
  type KernelRun,
  type ModelRun,
  type Verdict,
} from "./oracle.js";
import { fnv1a } from "./regression.js";

export const DEFAULT_SAVE_DIR = ".tmp/fuzz-oracle";

export interface Problem {
  kind: "uncovered" | "crash" | "no-answer" | "model-failure" | "warning";
  /** the problem without its numbers: one kind of disagreement */
  signature: string;
  message: string;
  /** the scenario line it showed at, when one (a difference, a crash) */
  line?: number;
}

export interface ScenarioOutcome {
  name: string;
  arch: Arch;
  /** the release the scenario's machine names (`machine ... kernel=`; undefined: 6.1) */
  version?: KernelVersion;
  text: string;
  verdict: Verdict;
  kernel: KernelRun;
  model: ModelRun;
  problems: Problem[];
}

export interface OracleFinding {
  problem: Problem;
  /** the scenario it was found in */
  found: ScenarioOutcome;
  /** the minimal scenario's text and its run */
  minimal: string;
  minimalRun: ScenarioOutcome;
  /** oracle runs the shrinking took */
  replays: number;
  file?: string;
  traceFile?: string;
}

export interface OracleFigures {
  scenarios: number;
  statements: number;
  compared: number;
  agreeing: number;
  covered: number;
  uncovered: number;
  crashes: number;
  noAnswer: number;
  modelFailures: number;
  /** scenarios whose guest logged a warning (dmesg) */
  warnings: number;
  byDivergence: Map<string, number>;
}

export interface OracleCampaignOptions {
  count: number;
  seed: number;
  arch?: Arch;
  kernel?: OracleKernel;
  /** the release the scenarios' machines run (`machine ... kernel=`; default 6.1) */
  version?: KernelVersion;
  /** Debian's kernels: the CPU model of the arm64 machines (`machine ... cpu=`) */
  cpu?: string;
  /** statements per scenario (default 14) */
  statements?: number;
  /** where minimal scenarios go; false: nowhere */
  saveDir?: string | false;
  shrink?: boolean;
  /** oracle runs one shrink may take (default 30) */
  shrinkBudget?: number;
  /** also save every scenario with its kernel run here (for rejudge()) */
  traceDir?: string;
  /** default: docs/divergences.md */
  judgement?: FuzzJudgement;
  log?: (line: string) => void;
  onScenario?: (o: ScenarioOutcome, index: number) => void;
  onFinding?: (f: OracleFinding) => void;
}

const norm = (s: string): string => s.replace(/0x[0-9a-f]+|\d+/gi, "N");

/** What is wrong with one run (nothing: the model and the kernel agree, or differ only as listed). */
export function problemsOf(v: Verdict, kernel: KernelRun, model: ModelRun): Problem[] {
  const out: Problem[] = [];
  const seen = new Set<string>();
  for (const d of v.unexplained) {
    const signature = `uncovered: ${differenceSignature(d)}`;
    if (seen.has(signature)) continue;
    seen.add(signature);
    out.push({
      kind: "uncovered",
      signature,
      message: `line ${d.line} [${d.rule}] ${d.message}`,
      line: d.line,
    });
  }
  if (kernel.outcome === "crash") {
    const first = (kernel.detail ?? "")
      .split("\n")
      .find((l) => /BUG|Oops|panic|Unable|fault|Internal error/.test(l));
    const line = Number(/^line (\d+)/.exec(kernel.detail ?? "")?.[1] ?? NaN);
    const predicted = model.failure?.kind === "kernel-bug" && model.failure.line === line;
    if (!predicted)
      out.push({
        kind: "crash",
        signature: `crash: ${norm((first ?? "").replace(/^\[[ \d.]+\]\s*/, ""))}`,
        message: kernel.detail ?? "",
        line: Number.isNaN(line) ? undefined : line,
      });
  }
  // a WARNING the model did not predict (or one it predicted and the kernel did
  // not print); only after a run the kernel finished (dmesg is read at the end)
  if (kernel.outcome === "ok")
    for (const w of unexpectedWarnings(kernel.warnings, model.warnings))
      out.push({ kind: "warning", signature: `warning: ${w}`, message: w });
  if (kernel.outcome === "no-answer")
    out.push({ kind: "no-answer", signature: "no-answer", message: kernel.detail ?? "" });
  if (model.failure && !(model.failure.kind === "kernel-bug" && kernel.outcome === "crash"))
    out.push({
      kind: "model-failure",
      signature: `model ${model.failure.kind}: ${norm(model.failure.message.split("\n")[0])}`,
      message: `line ${model.failure.line}: ${model.failure.message}`,
    });
  return out;
}

/** Runs one scenario text on both sides and judges it. */
export async function checkScenario(
  name: string,
  text: string,
  opts: { kernel?: OracleKernel; divergences: Divergence[]; log?: (l: string) => void },
): Promise<ScenarioOutcome> {
  const sc = parseScenario(text, `${name}.mhp`);
  const model = runOnModel(sc);
  const kernel = await runOnKernel(sc, { kernel: opts.kernel, log: opts.log });
  const verdict = judge(name, sc, model.trace, kernel.trace, opts.divergences);
  return {
    name,
    arch: sc.machine.arch,
    version: sc.machine.kernel,
    text,
    verdict,
    kernel,
    model,
    problems: problemsOf(verdict, kernel, model),
  };
}

/**
 * The scenario up to line `line` (a line of `text`): what a record of that line
 * can depend on. Statements after it cannot change it, so they go before any
 * shrinking run.
 */
export function truncateAfter(text: string, line: number): string {
  return text.split("\n").slice(0, line).join("\n") + "\n";
}

/** The set-up lines (up to `boot`) and the statements after it. */
export function splitScenario(text: string): { header: string[]; body: string[] } {
  const lines = text.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
  const boot = lines.findIndex((l) => /^boot\b/.test(l.trim()));
  return { header: lines.slice(0, boot + 1), body: lines.slice(boot + 1) };
}

/**
 * `body` with the statements that no longer parse after a removal dropped (a
 * dimm-del whose dimm-add went, a re-add that now collides): the scenario stays
 * valid, and statements that depend on a dropped one go with it.
 */
export function repair(header: readonly string[], body: readonly string[]): string[] {
  const kept: string[] = [];
  for (const l of body) {
    try {
      parseScenario([...header, ...kept, l].join("\n") + "\n", "shrink.mhp");
      kept.push(l);
    } catch (e) {
      if (!(e instanceof ScenarioError)) throw e;
    }
  }
  return kept;
}

/**
 * Delta debugging over the statements (machine and boot kept): the last
 * statement alone first, then drop chunks of halving size while the problem
 * persists, then try the set-up's `cmdline` and `vmem` lines one by one. `fails`
 * runs a candidate on both sides.
 */
export async function shrinkScenario(
  text: string,
  fails: (text: string) => Promise<boolean>,
  budget: number,
): Promise<{ text: string; replays: number }> {
  let { header, body } = splitScenario(text);
  let replays = 0;
  const join = (h: readonly string[], b: readonly string[]) => [...h, ...b].join("\n") + "\n";
  const tried = new Set<string>();
  const attempt = async (h: string[], b: string[]): Promise<boolean> => {
    const t = join(h, b);
    if (tried.has(t) || replays >= budget) return false;
    tried.add(t);
    replays++;
    return fails(t);
  };
  // A problem at the last statement often needs nothing before it (the scenario
  // is cut after the problem's line before shrinking): one run may settle it.
  if (body.length > 1) {
    const alone = repair(header, body.slice(-1));
    if (alone.length === 1 && (await attempt(header, alone))) body = alone;
  }
  let chunk = Math.max(1, Math.floor(body.length / 2));
  while (chunk >= 1 && replays < budget) {
    let progressed = false;
    for (let start = 0; start < body.length && replays < budget;) {
      const cand = repair(header, [...body.slice(0, start), ...body.slice(start + chunk)]);
      if (cand.length < body.length && cand.length > 0 && (await attempt(header, cand))) {
        body = cand;
        progressed = true;
      } else start += chunk;
    }
    if (!progressed) chunk = Math.floor(chunk / 2);
  }
  for (let i = 1; i < header.length - 1 && replays < budget; i++) {
    if (!/^(cmdline|vmem)\b/.test(header[i])) continue;
    const h = [...header.slice(0, i), ...header.slice(i + 1)];
    let b: string[];
    try {
      b = repair(h, body);
    } catch {
      continue;
    }
    if (b.length === body.length && (await attempt(h, b))) {
      header = h;
      i--;
    }
  }
  return { text: join(header, body), replays };
}

/** Saves a minimal scenario and its kernel trace (and the model's) under `dir`; returns both paths. */
export function saveCandidate(
  dir: string,
  f: Omit<OracleFinding, "file" | "traceFile">,
  foundBy: string,
  kernel: OracleKernel,
): { file: string; traceFile: string } {
  mkdirSync(dir, { recursive: true });
  const { arch } = f.minimalRun;
  const name = `fuzz-${arch === "x86_64" ? "x86" : arch}-${fnv1a(f.minimal)}`;
  const file = join(dir, `${name}.mhp`);
  const flavour = traceFlavour(kernel, f.minimalRun.version);
  const traceFile = join(dir, `${name}.${flavour}-${arch}.jsonl`);
  const evidence = [
    ...formatDifferences(f.minimalRun.verdict.unexplained, f.minimal).split("\n"),
    ...(f.minimalRun.kernel.outcome !== "ok"
      ? [`kernel: ${f.minimalRun.kernel.outcome}`, ...(f.minimalRun.kernel.detail ?? "").split("\n")]
      : []),
    ...(f.minimalRun.model.failure ? [`model: ${f.minimalRun.model.failure.message.split("\n")[0]}`] : []),
  ]
    .filter((l) => l.trim() !== "")
    .slice(0, 40)
    .map((l) => `#   ${l}`);
  const text =
    [
      `# Found by ${foundBy}; shrunk in ${f.replays} oracle runs.`,
      `# ${f.problem.signature}`,
      `# Evidence (model vs ${kernel === "patched" ? "patched" : "Debian's"} kernel, ${name}.${flavour}-${arch}.jsonl beside it):`,
      ...evidence,
    ].join("\n") +
    "\n" +
    f.minimal;
  const write = (path: string, body: string) => {
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, body);
    renameSync(tmp, path);
  };
  if (!existsSync(file)) write(file, text);
  write(traceFile, formatTrace(f.minimalRun.kernel.trace));
  write(join(dir, `${name}.model.jsonl`), formatTrace(f.minimalRun.model.trace));
  return { file, traceFile };
}

/** One run as three files: NAME.mhp, the kernel's trace, and how the kernel run ended. */
export function saveRun(dir: string, o: ScenarioOutcome, kernel: OracleKernel): void {
  mkdirSync(dir, { recursive: true });
  const flavour = traceFlavour(kernel, o.version);
  writeFileSync(join(dir, `${o.name}.mhp`), o.text);
  writeFileSync(join(dir, `${o.name}.${flavour}-${o.arch}.jsonl`), formatTrace(o.kernel.trace));
  const { outcome, detail, warnings } = o.kernel;
  writeFileSync(
    join(dir, `${o.name}.outcome.json`),
    JSON.stringify({ kernel, outcome, detail, warnings }) + "\n",
  );
}

/**
 * Judges the runs saveRun() kept in `dir` again, with the model and the
 * divergence list as they are now: no QEMU needed.
 */
export function rejudge(dir: string, judgement: FuzzJudgement = loadFuzzDivergences()): OracleCampaignResult {
  const figures = emptyFigures();
  const outcomes: ScenarioOutcome[] = [];
  const problems = new Map<string, { problem: Problem; names: string[]; listedAs?: string }>();
  let unlisted = 0;
  for (const f of readdirSync(dir)
    .filter((x) => x.endsWith(".outcome.json"))
    .sort()) {
    const name = f.slice(0, -".outcome.json".length);
    const saved = JSON.parse(readFileSync(join(dir, f), "utf8")) as {
      kernel: OracleKernel;
      outcome: KernelRun["outcome"];
      detail?: string;
      warnings: string[];
    };
    const text = readFileSync(join(dir, `${name}.mhp`), "utf8");
    const sc = parseScenario(text, `${name}.mhp`);
    const flavour = traceFlavour(saved.kernel, sc.machine.kernel);
    const trace = readTrace(readFileSync(join(dir, `${name}.${flavour}-${sc.machine.arch}.jsonl`), "utf8"));
    const kernelRun: KernelRun = {
      trace,
      outcome: saved.outcome,
      detail: saved.detail,
      warnings: saved.warnings,
    };
    const model = runOnModel(sc);
    const verdict = judge(name, sc, model.trace, trace, judgement.divergences);
    const o: ScenarioOutcome = {
      name,
      arch: sc.machine.arch,
      version: sc.machine.kernel,
      text,
      verdict,
      kernel: kernelRun,
      model,
      problems: problemsOf(verdict, kernelRun, model),
    };
    outcomes.push(o);
    addFigures(figures, o);
    for (const p of o.problems) {
      const e = problems.get(p.signature);
      if (e) {
        e.names.push(name);
        continue;
      }
      const listedAs =
        p.kind === "uncovered" ? undefined : listedProblem(judgement.problems, p.signature)?.id;
      problems.set(p.signature, { problem: p, names: [name], listedAs });
      if (!listedAs && p.kind !== "no-answer") unlisted++;
    }
  }
  return { figures, outcomes, findings: [], problems, unlisted };
}

export function emptyFigures(): OracleFigures {
  return {
    scenarios: 0,
    statements: 0,
    compared: 0,
    agreeing: 0,
    covered: 0,
    uncovered: 0,
    crashes: 0,
    noAnswer: 0,
    modelFailures: 0,
    warnings: 0,
    byDivergence: new Map(),
  };
}

export function addFigures(f: OracleFigures, o: ScenarioOutcome): void {
  f.scenarios++;
  f.statements += o.verdict.statements;
  f.compared += o.verdict.compared;
  f.agreeing += o.verdict.agreeing;
  f.covered += o.verdict.covered;
  f.uncovered += o.verdict.uncovered;
  if (o.kernel.outcome === "crash") f.crashes++;
  if (o.kernel.outcome === "no-answer") f.noAnswer++;
  if (o.model.failure) f.modelFailures++;
  if (o.kernel.warnings.length) f.warnings++;
  for (const [id, list] of o.verdict.explained)
    f.byDivergence.set(id, (f.byDivergence.get(id) ?? 0) + list.length);
}

export function formatFigures(f: OracleFigures, label = "memhp fuzz --oracle"): string {
  return (
    `${label}: ${f.scenarios} scenarios, ${f.compared} statements compared (of ${f.statements}): ` +
    `${f.agreeing} agree, ${f.covered} covered by docs/divergences.md, ${f.uncovered} not covered; ` +
    `${f.crashes} kernel crashes, ${f.noAnswer} guests did not answer, ${f.modelFailures} model failures, ` +
    `${f.warnings} with kernel warnings` +
    (f.byDivergence.size
      ? `\n  covered: ${[...f.byDivergence].map(([id, n]) => `${id} ${n}`).join(", ")}`
      : "")
  );
}

/** The scenario `index` of a campaign: its seed, arch and text. */
export function campaignScenario(
  seed: number,
  index: number,
  opts: { arch?: Arch; kernel?: OracleKernel; version?: KernelVersion; statements?: number; cpu?: string },
): { name: string; seed: number; arch: Arch; text: string } {
  const master = new Rng(seed);
  let s = 0;
  for (let i = 0; i <= index; i++) s = master.nextU32();
  const arch: Arch = opts.arch ?? (index % 2 === 0 ? "x86_64" : "arm64");
  const g =
    opts.kernel === "patched"
      ? generateRfc(s, { arch, statements: opts.statements, version: opts.version, cpu: opts.cpu })
      : generateStock(s, { arch, statements: opts.statements, version: opts.version, cpu: opts.cpu });
  return { name: `fuzz-${arch}-${s}`, seed: s, arch, text: g.text };
}

export interface OracleCampaignResult {
  figures: OracleFigures;
  outcomes: ScenarioOutcome[];
  findings: OracleFinding[];
  /** problems of every scenario (signature -> scenarios it showed in, and the entry listing it) */
  problems: Map<string, { problem: Problem; names: string[]; listedAs?: string }>;
  /** problems no entry of docs/divergences.md lists: what makes the run fail */
  unlisted: number;
}

export async function runOracleCampaign(opts: OracleCampaignOptions): Promise<OracleCampaignResult> {
  const judgement = opts.judgement ?? loadFuzzDivergences();
  const divergences = judgement.divergences;
  const kernel = opts.kernel ?? "stock";
  const figures = emptyFigures();
  const outcomes: ScenarioOutcome[] = [];
  const findings: OracleFinding[] = [];
  const problems = new Map<string, { problem: Problem; names: string[]; listedAs?: string }>();
  let unlisted = 0;
  for (let i = 0; i < opts.count; i++) {
    const c = campaignScenario(opts.seed, i, {
      arch: opts.arch,
      kernel,
      version: opts.version,
      statements: opts.statements,
      cpu: opts.cpu,
    });
    const o = await checkScenario(c.name, c.text, { kernel, divergences, log: opts.log });
    outcomes.push(o);
    if (opts.traceDir) saveRun(opts.traceDir, o, kernel);
    addFigures(figures, o);
    opts.onScenario?.(o, i);
    for (const p of o.problems) {
      const entry = problems.get(p.signature);
      if (entry) {
        entry.names.push(c.name);
        continue;
      }
      // differences are listed by entry already (an uncovered one is not); the other problems by `problem`
      const listedAs =
        p.kind === "uncovered" ? undefined : listedProblem(judgement.problems, p.signature)?.id;
      problems.set(p.signature, { problem: p, names: [c.name], listedAs });
      if (listedAs) continue;
      if (p.kind !== "no-answer") unlisted++;
      // a silent guest is reported as it is: shrinking it would mostly measure TCG's timing
      let minimal = o.text;
      let minimalRun = o;
      let replays = 0;
      // nor is a crash at boot: no statement has run, there is nothing to drop
      const atBoot = p.kind === "crash" && p.line === undefined;
      if (opts.shrink !== false && p.kind !== "no-answer" && !atBoot) {
        let last: ScenarioOutcome = o;
        const r = await shrinkScenario(
          p.line === undefined ? o.text : truncateAfter(o.text, p.line),
          async (t) => {
            const run = await checkScenario(c.name, t, { kernel, divergences, log: opts.log });
            const ok = run.problems.some((q) => q.signature === p.signature);
            if (ok) last = run;
            return ok;
          },
          opts.shrinkBudget ?? 30,
        );
        minimal = r.text;
        replays = r.replays;
        // the last candidate that still failed is the result; none did: the scenario as found
        if (last.text === r.text) minimalRun = last;
        else minimal = o.text;
      }
      const f: OracleFinding = { problem: p, found: o, minimal, minimalRun, replays };
      if (opts.saveDir !== false) {
        const where = saveCandidate(
          opts.saveDir ?? DEFAULT_SAVE_DIR,
          f,
          `memhp fuzz --oracle --kernel ${kernel}${opts.version ? ` --release ${opts.version}` : ""} --seed ${opts.seed} (scenario ${i}, ${c.name})`,
          kernel,
        );
        f.file = where.file;
        f.traceFile = where.traceFile;
      }
      findings.push(f);
      opts.onFinding?.(f);
    }
  }
  return { figures, outcomes, findings, problems, unlisted };
}
