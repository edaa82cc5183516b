// A light reading of a Dockerfile for one question: does any RUN execute on the target platform? A Dockerfile that
// cross-compiles (every RUN in stages FROM --platform=$BUILDPLATFORM) builds for a platform the builder cannot run,
// so the host/target check must not refuse it. When in doubt the answer is yes (the strict check applies).

interface Stage {
  name?: string;
  onBuildPlatform: boolean;
  runs: number;
}

/** Instruction lines with continuations joined and comments dropped (escape character '\' or a `# escape=` one). */
export function instructions(text: string): string[] {
  const lines = text.split(/\r?\n/);
  const escapeDirective = /^#\s*escape\s*=\s*(\S)/i.exec(lines[0] ?? '');
  const escape = escapeDirective ? escapeDirective[1] : '\\';
  const out: string[] = [];
  let current = '';
  for (const raw of lines) {
    const line = raw.trimEnd();
    if (current === '' && /^\s*#/.test(line)) continue;
    if (line.endsWith(escape)) {
      current += line.slice(0, -1) + ' ';
      continue;
    }
    current += line;
    if (current.trim()) out.push(current.trim());
    current = '';
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

export function runsOnTargetPlatform(dockerfile: string): boolean {
  const stages: Stage[] = [];
  for (const line of instructions(dockerfile)) {
    const [keyword, ...rest] = line.split(/\s+/);
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      let platformFlag: string | undefined;
      const words = rest.filter((w) => {
        const flag = /^--platform=(.*)$/i.exec(w);
        if (flag) platformFlag = flag[1];
        return !flag;
      });
      const base = words[0] ?? '';
      const name = words[1]?.toUpperCase() === 'AS' ? words[2]?.toLowerCase() : undefined;
      const parent = stages.find((s) => s.name === base.toLowerCase());
      const onBuildPlatform =
        platformFlag !== undefined ? /^\$\{?BUILDPLATFORM\}?$/.test(platformFlag) : parent ? parent.onBuildPlatform : false;
      stages.push({ name, onBuildPlatform, runs: 0 });
    } else if (upper === 'RUN' && stages.length) {
      stages[stages.length - 1].runs++;
    }
  }
  if (stages.length === 0) return true;
  return stages.some((s) => s.runs > 0 && !s.onBuildPlatform);
}
