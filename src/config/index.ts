/** The config part: schema, loader, CLI argument parsing, printing. */
export { type ListenAddr, parseListenAddr } from './addr.js';
export { type CliArgs, type OptionSpec, parseArgs } from './args.js';
export { formatDuration, formatSize, parseDuration, parseSize } from './duration.js';
export { DEFAULT_CONFIG_DIR, describeSource, type LoadedConfig, type LoadOptions, loadConfig } from './load.js';
export { formatConfig } from './print.js';
export * from './schema.js';
