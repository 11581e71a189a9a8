import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, formatSize, parseDuration, parseSize } from '../../src/config/duration.js';

test('duration - every unit due accepts parses to milliseconds', () => {
  const cases: Array<[string, number]> = [
    ['1500000ns', 1.5],
    ['250us', 0.25],
    ['250µs', 0.25],
    ['250μs', 0.25],
    ['20ms', 20],
    ['10s', 10_000],
    ['2m', 120_000],
    ['3h', 10_800_000],
    ['7d', 604_800_000],
    ['0', 0],
    ['0s', 0],
    ['1.5s', 1500],
    ['.5s', 500],
    ['1h30m', 5_400_000],
    ['1m30s500ms', 90_500],
    [' 10s ', 10_000],
  ];
  for (const [text, ms] of cases) assert.equal(parseDuration(text), ms, text);
});

test('duration - bad spellings are refused, not guessed', () => {
  for (const text of ['', '10', '-1s', 's', '10 s', '10x', '10sec', '1.s', 'ten seconds', '10s!', '1e3s', 'NaNs']) {
    assert.equal(parseDuration(text), undefined, text);
  }
});

test('size - B K KB M MB G GB parse to bytes with 1K = 1024', () => {
  const cases: Array<[string, number]> = [
    ['0', 0],
    ['512', 512],
    ['512B', 512],
    ['64K', 65_536],
    ['64KB', 65_536],
    ['64kb', 65_536],
    ['1M', 1_048_576],
    ['1.5MB', 1_572_864],
    ['100 MB', 104_857_600],
    ['2G', 2_147_483_648],
    ['1GB', 1_073_741_824],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
});

test('size - fractions of a byte, negatives and unknown units are refused', () => {
  for (const text of ['', '1.5', '1.3K', '-1K', '1TB', '1KiB', 'K', '1 K B', 'lots']) {
    assert.equal(parseSize(text), undefined, text);
  }
});

test('duration - formatDuration writes the largest exact unit and round-trips', () => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [10_000, '10s'],
    [90_000, '90s'],
    [120_000, '2m'],
    [86_400_000, '1d'],
    [250, '250ms'],
    [0.25, '250us'],
    [1.5e-3, '1500ns'],
  ];
  for (const [ms, text] of cases) {
    assert.equal(formatDuration(ms), text);
    assert.equal(parseDuration(text), ms, text);
  }
});

test('size - formatSize writes the largest exact unit and round-trips', () => {
  for (const [bytes, text] of [
    [0, '0B'],
    [5000, '5000B'],
    [65_536, '64KB'],
    [4_194_304, '4MB'],
    [1_073_741_824, '1GB'],
  ] as const) {
    assert.equal(formatSize(bytes), text);
    assert.equal(parseSize(text), bytes);
  }
});
