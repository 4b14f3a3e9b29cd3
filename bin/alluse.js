#!/usr/bin/env node
'use strict';
/* global require */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS on purpose: tsx must be registered before the TypeScript is required */
// The CLI runs from the TypeScript sources, so a fresh clone needs no build
// step: tsx compiles them on first use and caches the result (later starts
// take a fraction of a second).
require('tsx/cjs/api').register();
require('../src/cli/main.ts').main();
