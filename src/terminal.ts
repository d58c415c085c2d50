/**
 * Text from jobs, crontabs and the daemon's replies, made safe to print for people. A job's
 * output can hold ESC, OSC, BEL or CR: printed raw, it clears the screen, sets the terminal's
 * title, or forges a `job finished` line by returning the cursor. Every control character except
 * tab is shown as a visible escape instead, one scheme for all of them (documented in the README):
 *
 * - C0 (0x00-0x1f) and DEL (0x7f) as `\xHH`: ESC is `\x1b`, CR `\x0d`, BEL `\x07`;
 * - C1 (U+0080-U+009F, which UTF-8 terminals read as controls too: U+009B is CSI) as `\u00HH`;
 * - a backslash is doubled only where it comes before `x`, `u` or an escaped character, so a
 *   crontab's `\%` or `printf '\n'` shows as written, and `\x1b` typed by a job (four characters)
 *   shows as `\\x1b`, never like an escape.
 *
 * Newline is escaped too, unless the caller prints line by line (`keepNewlines`), where a newline
 * is the separator we produce.
 */

// Beyond C0, DEL and C1: the invisible and direction-changing characters (zero-width spaces and
// joiners, LRM/RLM, the line and paragraph separators, the bidi embeddings, overrides and
// isolates, BOM), with which a job can reorder or hide what a line seems to say.
const INVISIBLE = '\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff';
const CONTROL_CLASS = `\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f${INVISIBLE}`;
const CONTROL_NO_NEWLINE_CLASS = `\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f${INVISIBLE}`;

// A run of backslashes before `x`, `u` or a control character is doubled; a control character
// becomes its escape. Anything else is left as it is.
const ALL = new RegExp(`\\\\+(?=[xu${CONTROL_CLASS}])|[${CONTROL_CLASS}]`, 'g');
const KEEP_NEWLINES = new RegExp(`\\\\+(?=[xu${CONTROL_NO_NEWLINE_CLASS}])|[${CONTROL_NO_NEWLINE_CLASS}]`, 'g');
const NEEDS_ALL = new RegExp(`[\\\\${CONTROL_CLASS}]`);
const NEEDS_KEEP_NEWLINES = new RegExp(`[\\\\${CONTROL_NO_NEWLINE_CLASS}]`);

function replacement(match: string): string {
  if (match.startsWith('\\')) return match + match;
  const code = match.charCodeAt(0);
  return code < 0x80 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/** `text` with every control character but tab (and newline, with keepNewlines) escaped. */
export function escapeText(text: string, options: { keepNewlines?: boolean } = {}): string {
  const keep = options.keepNewlines === true;
  if (!(keep ? NEEDS_KEEP_NEWLINES : NEEDS_ALL).test(text)) return text;
  return text.replace(keep ? KEEP_NEWLINES : ALL, replacement);
}

/** Our own message, whose newlines are ours, with each line's content escaped. */
export function escapeLines(text: string): string {
  return escapeText(text, { keepNewlines: true });
}

const JSON_UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;

/**
 * JSON text made safe for a terminal. JSON escapes C0 but leaves DEL, C1 and the invisible
 * characters raw; here they are written as `\u00HH` too, which is the same JSON value (a
 * parser reads back the same string). A raw C0 character (a CR, say) can only be in a line that
 * schedd did not write (JSON allows it only as whitespace): it is escaped all the same, so a
 * forged line cannot return the cursor. Tab and newline stay: indented JSON is made of them.
 */
export function terminalJsonText(json: string): string {
  return json.replace(JSON_UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** JSON.stringify for a terminal (see terminalJsonText). */
export function terminalJson(value: unknown, indent?: number): string {
  return terminalJsonText(JSON.stringify(value, null, indent));
}
