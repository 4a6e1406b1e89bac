#!/usr/bin/env node
// Committed so npm links the command at install time (it links a bin only if its file exists then, and dist/ is
// built after install); the command itself is the built dist/eval-cli.js.
import '../dist/eval-cli.js';
