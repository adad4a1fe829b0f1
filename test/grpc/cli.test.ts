import t from 'tap'
import { runCli, startServer } from './serve-process.js'

t.test('the CLI verbs against a running server', async (t) => {
  const server = await startServer(t, ['--groups', '2'])
  const addr = ['--addr', server.address]

  t.test('put, append, get, del: results on stdout, exit 0', async (t) => {
    t.match(await runCli(['put', 'user:1', 'Ada', ...addr]), { code: 0, stdout: '' })
    t.match(await runCli(['append', 'user:1', ' Lovelace', ...addr]), { code: 0 })
    t.match(await runCli(['get', 'user:1', ...addr]), { code: 0, stdout: 'Ada Lovelace\n' })
    t.match(await runCli(['del', 'user:1', ...addr]), { code: 0 })
    t.match(await runCli(['get', 'user:1', ...addr]), { code: 3, stdout: '', stderr: /key not found/ }, 'a missing key exits 3')
    t.match(await runCli(['del', 'user:1', ...addr]), { code: 3, stderr: /key not found/ })
    t.match(await runCli(['get', ...addr, '--', '-dash']), { code: 3 }, 'after -- a key may start with a dash')
  })

  t.test('--json: one document on stdout, for results, absences and errors', async (t) => {
    await runCli(['put', 'j', 'v', ...addr])
    const found = await runCli(['get', 'j', ...addr, '--json'])
    t.same(JSON.parse(found.stdout), { ok: true, key: 'j', found: true, text: true, value: 'v' })
    const missing = await runCli(['get', 'nothing', ...addr, '--json'])
    t.equal(missing.code, 3)
    t.same(JSON.parse(missing.stdout), { ok: true, key: 'nothing', found: false })
    const failed = await runCli(['get', '', ...addr, '--json'])
    t.equal(failed.code, 1)
    t.same(JSON.parse(failed.stdout), { ok: false, error: { code: 'ERR_INVALID_KEY', status: 'INVALID_ARGUMENT', message: 'key must not be empty' } })
  })

  t.test('bytes: --base64 in, base64 out', async (t) => {
    t.match(await runCli(['put', 'png', 'iVBORw==', '--base64', ...addr]), { code: 0 })
    t.match(await runCli(['get', 'png', ...addr]), { code: 0, stdout: 'iVBORw==\n' })
    t.same(JSON.parse((await runCli(['get', 'png', ...addr, '--json'])).stdout), { ok: true, key: 'png', found: true, text: false, encoding: 'base64', value: 'iVBORw==' })
    t.match(await runCli(['append', 'png', 'text', ...addr]), { code: 1, stderr: /ERR_TYPE_MISMATCH \(FAILED_PRECONDITION\)/ })
    t.match(await runCli(['put', 'png', 'not base64!', '--base64', ...addr]), { code: 2, stderr: /not base64/ })
  })

  t.test('admin: join, query, move, leave, actors, stats', async (t) => {
    t.match(await runCli(['admin', 'join', ...addr]), { code: 0, stdout: '3\n' })
    t.match(await runCli(['admin', 'move', '0', '3', ...addr]), { code: 0 })
    const query = await runCli(['admin', 'query', ...addr])
    t.match(query, { code: 0, stdout: /^configuration \d+\ngroup 1 \(g1-n1\): \d+ shards [-,\d]+\ngroup 2 \(g2-n1\): .*\ngroup 3 \(g3-n1\): \d+ shards 0,/ })
    const config = JSON.parse((await runCli(['admin', 'query', ...addr, '--json'])).stdout) as { config: { shards: number[] } }
    t.equal(config.config.shards[0], 3)
    t.match(await runCli(['admin', 'leave', '3', ...addr]), { code: 0 })
    t.match(await runCli(['admin', 'leave', '3', ...addr]), { code: 1, stderr: /ERR_UNKNOWN_GROUP \(NOT_FOUND\)/ })
    t.match(await runCli(['admin', 'query', '0', ...addr]), { code: 0, stdout: /^configuration 0\nunassigned: 64 shards 0-63\n$/ })
    t.match(await runCli(['admin', 'actors', ...addr]), { code: 0, stdout: /^master-1 +master +- +leader +restarts 0\ng1-n1 +storage +g1 +leader/ })
    t.match(JSON.parse((await runCli(['admin', 'stats', ...addr])).stdout), { groups: 2 })
    t.match(await runCli(['admin', 'move', '9999', '1', ...addr]), { code: 1, stderr: /ERR_INVALID_SHARD \(INVALID_ARGUMENT\)/ })
  })

  t.test('concurrent CLI processes appending to one key lose nothing', async (t) => {
    await runCli(['put', 'shared', '', ...addr])
    const tokens = Array.from({ length: 8 }, (_, index) => `<${index}>`)
    const results = await Promise.all(tokens.map((token) => runCli(['append', 'shared', token, ...addr])))
    t.same(results.map((result) => result.code), tokens.map(() => 0))
    const value = (await runCli(['get', 'shared', ...addr])).stdout
    t.same(tokens.filter((token) => value.includes(token)), tokens)
    t.equal(value.length, tokens.join('').length + 1)
  })

  t.test('usage mistakes exit 2 and say what is wrong', async (t) => {
    t.match(await runCli(['get', ...addr]), { code: 2, stderr: /missing KEY/ })
    t.match(await runCli(['put', 'k', ...addr]), { code: 2, stderr: /missing VALUE/ })
    t.match(await runCli(['get', 'a', 'b', ...addr]), { code: 2, stderr: /unexpected argument "b"/ })
    t.match(await runCli(['get', 'k', '--bogus', ...addr]), { code: 2, stderr: /unknown flag --bogus/ })
    t.match(await runCli(['get', 'k', '--addr', 'nowhere']), { code: 2, stderr: /--addr: address must be/ })
    t.match(await runCli(['admin', 'leave', 'one', ...addr]), { code: 2, stderr: /GID must be a non-negative integer/ })
    t.match(await runCli(['admin', 'frobnicate']), { code: 2, stderr: /unknown command "frobnicate"/ })
  })

  t.test('an unreachable server exits 4', async (t) => {
    const result = await runCli(['get', 'k', '--addr', '127.0.0.1:1', '--deadline-ms', '1000', '--json'])
    t.equal(result.code, 4)
    t.match(JSON.parse(result.stdout), { ok: false, error: { code: 'ERR_CLOSED', status: 'UNAVAILABLE' } })
  })
})

t.test('every command has --help, exit 0', async (t) => {
  const commands = [['serve'], ['get'], ['put'], ['append'], ['del'], ['admin'], ['admin', 'join'], ['admin', 'leave'], ['admin', 'move'], ['admin', 'query'], ['admin', 'actors'], ['admin', 'stats']]
  const results = await Promise.all(commands.map((command) => runCli([...command, '--help'])))
  for (const [index, result] of results.entries()) {
    t.equal(result.code, 0, commands[index]!.join(' '))
    t.match(result.stdout, /^Usage: shardkv /)
  }
  t.match(results[1]!.stdout, /Exit codes:\n {2}0 {3}done/)
})
