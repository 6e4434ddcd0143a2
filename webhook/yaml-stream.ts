import YAML from 'yaml';
import { BadInputError } from '../shared/errors.js';
import { MAX_OBJECT_DEPTH } from './pod-shape.js';

/**
 * A multi-document YAML stream read the way kubectl reads it, for `detour inject`.
 *
 * - YAML 1.1 scalars, as kubectl's sigs.k8s.io/yaml (go-yaml v2) resolves them:
 *   `0400` is octal (256), `yes`/`on`/`off` are booleans, `<<` merges. Read as YAML
 *   1.2, `defaultMode: 0400` would silently become 400 (decimal) on a Secret volume.
 *   https://yaml.org/type/int.html  https://yaml.org/type/bool.html
 * - Each document keeps its source text, so one we do not change is printed byte for
 *   byte; one we change is edited as a Document (yaml-node-update.ts) and printed with
 *   the source's own sequence indentation and flow padding where it shows one.
 * - Errors say where: `FILE:LINE:COLUMN: message`.
 */
export interface StreamPiece {
  /** The piece's source text (a document, or comments and markers between them). */
  source: string;
  /** The parsed document, for document pieces. */
  doc?: YAML.Document;
  /** How to print `doc` again if it is changed. */
  style?: YAML.ToStringOptions;
}

export function readYamlStream(text: string, file: string): StreamPiece[] {
  const lines = new YAML.LineCounter();
  const where = (offset: number): string => {
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const pieces: StreamPiece[] = [];
  // The parser itself is iterative and its tokens tile the text, so each piece's source
  // is the text up to the next token (CST.stringify would recurse into deep nesting).
  const tokens = [...new YAML.Parser(lines.addNewLine).parse(text)];
  for (const [i, token] of tokens.entries()) {
    const source = text.slice(token.offset, tokens[i + 1]?.offset ?? text.length);
    if (token.type === 'error') {
      throw new BadInputError(`${where(token.offset)}: ${token.message}`, { file });
    }
    if (token.type !== 'document') {
      pieces.push({ source });
      continue;
    }
    const facts = sourceFacts(token, text);
    if (facts.tooDeepAt !== undefined) {
      throw new BadInputError(
        `${where(facts.tooDeepAt)}: nested deeper than ${MAX_OBJECT_DEPTH} levels`,
        { file },
      );
    }
    const [doc] = [...new YAML.Composer({ version: '1.1', logLevel: 'error' }).compose([token])];
    if (doc === undefined) {
      pieces.push({ source });
      continue;
    }
    if (doc.errors.length > 0) {
      const messages = doc.errors.map((e) => `${where(e.pos[0])}: ${e.message}`);
      throw new BadInputError(messages.join('\n'), { file });
    }
    pieces.push({ source, doc, style: facts.style });
  }
  return pieces;
}

/** The document's plain value; aliases are bounded (a "billion laughs" is refused). */
export function documentValue(doc: YAML.Document, file: string): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new BadInputError(`${file}: ${(err as Error).message}`, { file });
  }
}

interface SourceFacts {
  tooDeepAt?: number;
  style: YAML.ToStringOptions;
}

type Frame = [token: YAML.CST.Token, depth: number];

/**
 * One iterative walk of the document's syntax tree (before composing it, which
 * recurses): where it nests too deep, and how its author indents block sequences under
 * a key and pads flow collections. Without evidence, kubectl's own style: sequences
 * not indented under their key.
 */
function sourceFacts(document: YAML.CST.Document, text: string): SourceFacts {
  const seen: { indentSeq?: boolean; flowCollectionPadding?: boolean } = {};
  const stack: Frame[] = document.value === undefined ? [] : [[document.value, 1]];
  for (let frame = stack.pop(); frame !== undefined; frame = stack.pop()) {
    const [token, depth] = frame;
    if (!isCollection(token)) continue;
    if (depth > MAX_OBJECT_DEPTH) return { tooDeepAt: token.offset, style: {} };
    noteStyle(token, text, seen);
    // Pushed last to first, so the walk meets them in document order.
    for (const item of [...token.items].reverse()) {
      if (item.value !== undefined) stack.push([item.value, depth + 1]);
      if (item.key !== undefined && item.key !== null) stack.push([item.key, depth + 1]);
    }
  }
  return {
    style: {
      lineWidth: 0,
      indentSeq: seen.indentSeq ?? false,
      flowCollectionPadding: seen.flowCollectionPadding ?? true,
    },
  };
}

type Collection = YAML.CST.BlockMap | YAML.CST.BlockSequence | YAML.CST.FlowCollection;

function isCollection(token: YAML.CST.Token): token is Collection {
  return (
    token.type === 'block-map' || token.type === 'block-seq' || token.type === 'flow-collection'
  );
}

/** The first evidence of each style choice, in document order. */
function noteStyle(
  token: Collection,
  text: string,
  seen: { indentSeq?: boolean; flowCollectionPadding?: boolean },
): void {
  if (token.type === 'flow-collection' && token.items.length > 0) {
    seen.flowCollectionPadding ??= text[token.offset + 1] === ' ';
  }
  if (token.type === 'block-map' && seen.indentSeq === undefined) {
    const seq = token.items.find((item) => item.value?.type === 'block-seq')?.value;
    if (seq?.type === 'block-seq') seen.indentSeq = seq.indent > token.indent;
  }
}
