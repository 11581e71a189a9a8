#!/usr/bin/env node
// The duet CLI. Sources are TypeScript run through tsx's loader, so a clone runs without a build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
