/**
 * A small Dockerfile reader for tests: enough of the syntax to check the image's
 * essentials without a Docker engine (none runs on the build machines).
 * https://docs.docker.com/reference/dockerfile/
 *
 * It understands line continuations, comments, parser directives, `ARG` defaults used in
 * `FROM`, stages (`FROM image AS name`) and exec-form (JSON) arguments. It does not
 * expand variables anywhere but in `FROM`, nor heredocs.
 */
export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY, ... */
  keyword: string;
  /** The raw arguments, continuation lines joined with a space. */
  args: string;
  line: number;
}

export interface Stage {
  /** The image after ARG substitution, e.g. `node:24-slim`. */
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  globalArgs: Record<string, string>;
  stages: Stage[];
}

function logicalLines(text: string): { text: string; line: number }[] {
  const out: { text: string; line: number }[] = [];
  let current: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    // Comment lines inside a continued instruction are dropped, as Docker does.
    if (trimmed.startsWith('#')) return;
    if (current === undefined) {
      if (trimmed === '') return;
      current = { text: '', line: index + 1 };
    }
    const continued = trimmed.endsWith('\\');
    current.text +=
      (current.text === '' ? '' : ' ') + (continued ? trimmed.slice(0, -1).trim() : trimmed);
    if (!continued) {
      out.push(current);
      current = undefined;
    }
  });
  if (current !== undefined) out.push(current);
  return out;
}

function substitute(value: string, args: Record<string, string>): string {
  return value.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => {
    const name = braced ?? bare ?? '';
    return args[name] ?? whole;
  });
}

export function parseDockerfile(text: string): Dockerfile {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const { text: lineText, line } of logicalLines(text)) {
    const match = /^(\S+)\s*(.*)$/.exec(lineText);
    if (match === null) continue;
    const keyword = (match[1] ?? '').toUpperCase();
    const args = match[2] ?? '';
    if (keyword === 'FROM') {
      const [image = '', as, name] = args.split(/\s+/);
      stages.push({
        image: substitute(image, globalArgs),
        name: as?.toUpperCase() === 'AS' ? name : undefined,
        instructions: [],
      });
      continue;
    }
    const stage = stages.at(-1);
    if (stage === undefined) {
      if (keyword === 'ARG') {
        const [name = '', value = ''] = args.split('=', 2);
        globalArgs[name.trim()] = value.trim();
      }
      continue;
    }
    stage.instructions.push({ keyword, args, line });
  }
  return { globalArgs, stages };
}

/** The JSON array of an exec-form instruction (`ENTRYPOINT ["detour"]`), else undefined. */
export function execForm(args: string): string[] | undefined {
  if (!args.trimStart().startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) return undefined;
  return parsed;
}
