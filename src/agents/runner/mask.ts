/**
 * Masks secret values in log lines before they leave the agent. The secrets are the agent's own
 * credentials and every environment value whose name looks secret (TOKEN, PASSWORD, SECRET, KEY,
 * CREDENTIAL), plus their base64 forms as they appear in Basic auth headers.
 */
export const MASK = '***';
const SECRET_NAME = /(TOKEN|PASSWORD|PASSWD|SECRET|CREDENTIAL|PRIVATE|API_?KEY|ACCESS_?KEY)/i;
/** Shorter values are not masked: they would blank out ordinary words. */
export const MIN_SECRET_LENGTH = 6;

export class Masker {
  private readonly secrets: string[];

  constructor(values: Iterable<string>) {
    const set = new Set<string>();
    for (const v of values) {
      if (!v || v.length < MIN_SECRET_LENGTH) continue;
      set.add(v);
    }
    // Longest first, so a secret containing another is masked whole.
    this.secrets = [...set].sort((a, b) => b.length - a.length);
  }

  /** Secret values of an environment. */
  static fromEnv(env: NodeJS.ProcessEnv, extra: readonly string[] = []): Masker {
    const values: string[] = [...extra];
    for (const [k, v] of Object.entries(env)) if (v && SECRET_NAME.test(k)) values.push(v);
    return new Masker(values);
  }

  /** A masker that also hides `basic(user, secret)` forms. */
  withBasicAuth(user: string, secret: string): Masker {
    return new Masker([...this.secrets, Buffer.from(`${user}:${secret}`).toString('base64')]);
  }

  mask(line: string): string {
    let out = line;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join(MASK);
    return out;
  }
}
