/**
 * A cron command line as sh would split it, far enough to name the job: words (quotes and
 * backslashes resolved, `$(...)` and backquotes kept whole), redirections dropped with their
 * targets, and the control operators that separate simple commands. Not a shell parser: it
 * never fails, and what it cannot read it keeps as words.
 */

export type Operator = '&&' | '||' | ';' | '&' | '|' | '(' | ')' | '\n';

export type ShellToken = { word: string } | { op: Operator };

const BLANK = new Set([' ', '\t']);

/** Index after the `$(...)` or backquoted text whose `$` or backquote is at `at`. */
function skipSubstitution(text: string, at: number): number {
  if (text[at] === '`') {
    let i = at + 1;
    while (i < text.length && text[i] !== '`') i += text[i] === '\\' ? 2 : 1;
    return Math.min(i + 1, text.length);
  }
  let depth = 0;
  for (let i = at + 1; i < text.length; i++) {
    const ch = text[i];
    if (ch === '\\') i++;
    else if (ch === "'") {
      const close = text.indexOf("'", i + 1);
      i = close < 0 ? text.length : close;
    } else if (ch === '(') depth++;
    else if (ch === ')' && --depth === 0) return i + 1;
  }
  return text.length;
}

export function shellTokens(text: string): ShellToken[] {
  const tokens: ShellToken[] = [];
  let word = '';
  let inWord = false;
  /** The next word is a redirection's target: dropped. */
  let dropNext = false;
  const end = (): void => {
    if (inWord) {
      if (dropNext) dropNext = false;
      else tokens.push({ word });
    }
    word = '';
    inWord = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (BLANK.has(ch)) {
      end();
    } else if (ch === "'") {
      const close = text.indexOf("'", i + 1);
      word += text.slice(i + 1, close < 0 ? text.length : close);
      inWord = true;
      i = close < 0 ? text.length : close;
    } else if (ch === '"') {
      inWord = true;
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\' && i + 1 < text.length && '"\\$`'.includes(text[i + 1]!)) word += text[++i];
        else if (text[i] === '$' && text[i + 1] === '(') {
          const after = skipSubstitution(text, i);
          word += text.slice(i, after);
          i = after - 1;
        } else word += text[i];
      }
    } else if (ch === '\\') {
      if (text[i + 1] === '\n') i++;
      else if (i + 1 < text.length) {
        word += text[++i];
        inWord = true;
      }
    } else if ((ch === '$' && text[i + 1] === '(') || ch === '`') {
      const after = skipSubstitution(text, i);
      word += text.slice(i, after);
      inWord = true;
      i = after - 1;
    } else if (ch === '>' || ch === '<' || (ch === '&' && text[i + 1] === '>')) {
      // `2>&1`, `>/dev/null`, `&>>log`, `<in`: a leading fd number is part of the operator.
      if (inWord && /^\d+$/.test(word)) {
        word = '';
        inWord = false;
      } else end();
      let j = i;
      while (j < text.length && '<>&|-'.includes(text[j]!)) j++;
      i = j - 1;
      dropNext = true;
      // `>&1` ends in its target digits straight away.
      const digits = /^\d+/.exec(text.slice(j));
      if (text[j - 1] === '&' && digits) {
        i = j + digits[0].length - 1;
        dropNext = false;
      }
    } else if (ch === '&' || ch === '|' || ch === ';' || ch === '(' || ch === ')' || ch === '\n') {
      end();
      const two = text.slice(i, i + 2);
      if (two === '&&' || two === '||') {
        tokens.push({ op: two });
        i++;
      } else if (two === ';;') {
        tokens.push({ op: ';' });
        i++;
      } else tokens.push({ op: ch as Operator });
    } else if (ch === '#' && !inWord) {
      break; // a comment to the end of the line
    } else {
      word += ch;
      inWord = true;
    }
  }
  end();
  return tokens;
}
