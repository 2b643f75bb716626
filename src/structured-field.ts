/**
 * RFC 8941 lists of sf-strings (`"k1", "", "k3"`), as the key header carries one key per call of a
 * batch and the replay header names the replayed calls of one. No Node imports: the client uses it.
 */

/** An RFC 8941 sf-string: quoted, with `\` and `"` escaped by a backslash. */
export function sfString(value: string): string {
  return `"${value.replace(/[\\"]/g, '\\$&')}"`;
}

/** Parses an RFC 8941 list of sf-strings. Undefined if malformed. */
export function parseSfStringList(value: string): string[] | undefined {
  const items: string[] = [];
  let i = 0;
  const skipSpace = () => {
    while (value[i] === ' ' || value[i] === '\t') i++;
  };
  skipSpace();
  for (;;) {
    if (value[i] !== '"') return undefined;
    let item = '';
    for (i++; ; i++) {
      const ch = value[i];
      if (ch === undefined) return undefined;
      if (ch === '"') break;
      if (ch === '\\') {
        const escaped = value[++i];
        if (escaped !== '"' && escaped !== '\\') return undefined;
        item += escaped;
      } else {
        item += ch;
      }
    }
    items.push(item);
    i++;
    skipSpace();
    if (i === value.length) return items;
    if (value[i] !== ',') return undefined;
    i++;
    skipSpace();
  }
}
