#!/usr/bin/env node
// The `shardkv` command: a launcher for the compiled CLI in dist/ (built by `npm run build`).
const cli = await import('../dist/src/cli.js').catch((error) => {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('dist/src/cli.js')) throw error
  process.stderr.write('shardkv: dist/src/cli.js is missing; run "npm run build" first.\n')
  process.exit(1)
})

process.exitCode = await cli.main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  errIsTTY: process.stderr.isTTY === true,
})
