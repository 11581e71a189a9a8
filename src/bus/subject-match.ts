/** NATS subject matching: tokens split on '.', '*' matches one token, '>' (last) matches one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  if (pattern === subject) return true;
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    const t = p[i];
    if (t === '>') return i === p.length - 1 && s.length > i;
    if (i >= s.length) return false;
    if (t !== '*' && t !== s[i]) return false;
  }
  return p.length === s.length;
}

export function hasWildcard(subject: string): boolean {
  return subject.includes('*') || subject.includes('>');
}
