/**
 * The field kinds a config schema is made of, and the type-level mapping from a schema to its typed result.
 * Durations come out as milliseconds under `<key>Ms`, sizes as bytes under `<key>Bytes` (a key already ending in
 * `Bytes` keeps its name), so units are always in the name (docs/contributing.md).
 */

interface FieldBase {
  /** One line of English, used in config/*.toml and `duet config print`. */
  readonly doc: string;
  /** Printed as "***" and never logged (passwords, tokens, HMAC keys). */
  readonly secret?: boolean;
}

export interface StringField extends FieldBase {
  readonly kind: 'string';
  readonly default: string;
}
export interface EnumField<V extends readonly string[] = readonly string[]> extends FieldBase {
  readonly kind: 'enum';
  readonly values: V;
  readonly default: V[number];
}
export interface IntField extends FieldBase {
  readonly kind: 'int';
  readonly default: number;
  readonly min?: number;
  readonly max?: number;
}
export interface IntOfField<V extends readonly number[] = readonly number[]> extends FieldBase {
  readonly kind: 'intOf';
  readonly values: V;
  readonly default: V[number];
}
export interface NumberField extends FieldBase {
  readonly kind: 'number';
  readonly default: number;
  readonly min?: number;
  readonly max?: number;
}
export interface BoolField extends FieldBase {
  readonly kind: 'bool';
  readonly default: boolean;
}
export interface DurationField extends FieldBase {
  readonly kind: 'duration';
  /** Milliseconds. */
  readonly default: number;
  /** due writes some durations as bare integers (Consul keys are seconds); other keys need a unit. */
  readonly bareUnit?: 's';
}
export interface SizeField extends FieldBase {
  readonly kind: 'size';
  /** Bytes. */
  readonly default: number;
}
export interface StringsField extends FieldBase {
  readonly kind: 'strings';
  readonly default: readonly string[];
}
/** A table of string values (`[cluster.gate.metadata]`); env and flags may set one entry by its key. */
export interface MapField extends FieldBase {
  readonly kind: 'map';
}

export type Field =
  | StringField
  | EnumField
  | IntField
  | IntOfField
  | NumberField
  | BoolField
  | DurationField
  | SizeField
  | StringsField
  | MapField;

export interface SchemaSection {
  readonly [key: string]: Field | SchemaSection;
}

export function isField(node: Field | SchemaSection): node is Field {
  return typeof node.kind === 'string';
}

/** The key a field has in the typed result: durations gain `Ms`, sizes gain `Bytes` unless already there. */
export function outputKey(key: string, field: Field): string {
  if (field.kind === 'duration') return `${key}Ms`;
  if (field.kind === 'size') return key.endsWith('Bytes') ? key : `${key}Bytes`;
  return key;
}

type FieldValue<F> =
  F extends EnumField<infer V>
    ? V[number]
    : F extends IntOfField<infer V>
      ? V[number]
      : F extends StringField
        ? string
        : F extends BoolField
          ? boolean
          : F extends StringsField
            ? readonly string[]
            : F extends MapField
              ? Readonly<Record<string, string>>
              : number;

type OutputKey<K extends string, F> = F extends DurationField
  ? `${K}Ms`
  : F extends SizeField
    ? K extends `${string}Bytes`
      ? K
      : `${K}Bytes`
    : K;

/** The typed, validated result of a schema section. */
export type Resolved<S> = {
  readonly [K in keyof S & string as OutputKey<K, S[K]>]: S[K] extends Field ? FieldValue<S[K]> : Resolved<S[K]>;
};

const base = (doc: string, secret?: boolean) => (secret ? { doc, secret } : { doc });

export const str = (def: string, doc: string, opts: { secret?: boolean } = {}): StringField => ({
  kind: 'string',
  default: def,
  ...base(doc, opts.secret),
});
export const oneOf = <const V extends readonly string[]>(values: V, def: V[number], doc: string): EnumField<V> => ({
  kind: 'enum',
  values,
  default: def,
  doc,
});
export const int = (def: number, doc: string, range: { min?: number; max?: number } = {}): IntField => ({
  kind: 'int',
  default: def,
  doc,
  ...range,
});
export const intOf = <const V extends readonly number[]>(values: V, def: V[number], doc: string): IntOfField<V> => ({
  kind: 'intOf',
  values,
  default: def,
  doc,
});
export const num = (def: number, doc: string, range: { min?: number; max?: number } = {}): NumberField => ({
  kind: 'number',
  default: def,
  doc,
  ...range,
});
export const bool = (def: boolean, doc: string): BoolField => ({ kind: 'bool', default: def, doc });
export const duration = (def: number, doc: string, opts: { bareUnit?: 's' } = {}): DurationField => ({
  kind: 'duration',
  default: def,
  doc,
  ...opts,
});
export const size = (def: number, doc: string): SizeField => ({ kind: 'size', default: def, doc });
export const strings = (def: readonly string[], doc: string): StringsField => ({ kind: 'strings', default: def, doc });
export const map = (doc: string): MapField => ({ kind: 'map', doc });
