// docs/cli/: one Markdown page per subcommand, made from its --help text
// (scripts/gen-cli-docs.ts writes them; test/cli-docs.test.ts checks they are current).

import type { Command } from "commander";
import { buildProgram } from "./main.js";

/** Help text width of the pages, whatever the terminal. */
const HELP_WIDTH = 100;

const HEADER = "<!-- Generated from `memhp … --help` by `npm run docs:cli`; do not edit. -->";

/** Everything `cmd --help` prints, the text added after the options included. */
export function helpText(cmd: Command): string {
  let out = "";
  cmd.configureHelp({ helpWidth: HELP_WIDTH });
  cmd.configureOutput({
    writeOut: (s) => (out += s),
    writeErr: (s) => (out += s),
    getOutHelpWidth: () => HELP_WIDTH,
  });
  cmd.outputHelp();
  return out;
}

/** The order a new user meets the commands in. */
const START_HERE = `## Start here

1. [\`memhp run scenarios/examples/x86-dimm.mhp\`](run.md): a first scenario (a DIMM
   hot-added, onlined, offlined and removed); each statement with what it did,
   a refusal with its errno and why.
2. [\`memhp shell\`](shell.md): the same machine by hand: \`cat\`, \`echo … > state\`,
   \`ls\`, \`dmesg\`, and every scenario statement as a command (\`help\` lists them).
3. [\`memhp serve\`](serve.md): the physical address space in a browser; click a block.
4. [\`memhp oracle\`](oracle.md) and [\`memhp diff\`](diff.md): the same scenario on
   Debian's real kernel under QEMU, and the differences.
5. [\`memhp demo\`](demo.md): the RFC's question: what each way of powering memory
   down and up costs and leaves exposed.
`;

function page(title: string, description: string, help: string): string {
  return `# ${title}\n\n${HEADER}\n\n${description}\n\n\`\`\`text\n${help.trimEnd()}\n\`\`\`\n`;
}

/** File name (in docs/cli/) → contents. */
export function cliDocPages(): Map<string, string> {
  const program = buildProgram();
  const pages = new Map<string, string>();
  const subs = [...program.commands].sort((a, b) => a.name().localeCompare(b.name()));
  let index = `# The memhp command\n\n${HEADER}\n\n${program.description()}\n\n${START_HERE}\n## Every command\n\n| command | what it does |\n| --- | --- |\n`;
  for (const c of subs)
    index += `| [\`memhp ${c.name()}\`](${c.name()}.md) | ${c.description().replace(/\|/g, "\\|")} |\n`;
  index += `\n\`\`\`text\n${helpText(program).trimEnd()}\n\`\`\`\n`;
  pages.set("README.md", index);
  for (const c of subs) {
    let text = page(`memhp ${c.name()}`, c.description(), helpText(c));
    // Subcommands of a subcommand (memhp snapshot save …) on the same page.
    for (const sub of c.commands)
      text += `\n## memhp ${c.name()} ${sub.name()}\n\n\`\`\`text\n${helpText(sub).trimEnd()}\n\`\`\`\n`;
    pages.set(`${c.name()}.md`, text);
  }
  return pages;
}
