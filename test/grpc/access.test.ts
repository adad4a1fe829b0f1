import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connectGrpc } from '../../src/grpc/client.js'
import { Status } from '../../src/grpc/status.js'
import { runCli, startServer } from './serve-process.js'

const TOKEN = 's3cret-token'
const UNAUTHENTICATED = { code: 'ERR_INVALID_OPTION', status: Status.UNAUTHENTICATED }

t.test('with --auth-token every call needs the token', async (t) => {
  const server = await startServer(t, ['--groups', '1', '--auth-token', TOKEN])
  const anonymous = await connectGrpc(server.address)
  const wrong = await connectGrpc(server.address, { authToken: 'guess' })
  const right = await connectGrpc(server.address, { authToken: TOKEN })
  t.teardown(() => [anonymous, wrong, right].forEach((client) => client.close()))
  for (const [name, client] of [['missing', anonymous], ['wrong', wrong]] as const) {
    await t.rejects(client.put('k', 'v'), UNAUTHENTICATED, `${name} token: unary`)
    await t.rejects(client.pipeline().get('k'), UNAUTHENTICATED, `${name} token: pipeline`)
    await t.rejects(client.admin.query(), UNAUTHENTICATED, `${name} token: admin`)
  }
  await right.put('k', 'v')
  t.equal(await right.pipeline().get('k'), 'v')
  t.match(await runCli(['get', 'k', '--addr', server.address]), { code: 4, stderr: /UNAUTHENTICATED/ }, 'the CLI without a token exits 4')
  t.match(await runCli(['get', 'k', '--addr', server.address, '--auth-token', TOKEN]), { code: 0, stdout: 'v\n' })
  t.match(await runCli(['get', 'k', '--addr', server.address], { SHARDKV_AUTH_TOKEN: TOKEN }), { code: 0, stdout: 'v\n' }, 'or from SHARDKV_AUTH_TOKEN')
})

t.test('the server takes its token from SHARDKV_AUTH_TOKEN too', async (t) => {
  const server = await startServer(t, ['--groups', '1'], { SHARDKV_AUTH_TOKEN: TOKEN })
  t.match(await runCli(['admin', 'query', '--addr', server.address]), { code: 4 })
  t.match(await runCli(['admin', 'query', '--addr', server.address, '--auth-token', TOKEN]), { code: 0 })
})

t.test('without a token, only loopback unless --insecure', async (t) => {
  const refused = await runCli(['serve', '--host', '0.0.0.0', '--port', '0'])
  t.equal(refused.code, 2)
  t.match(refused.stderr, /refusing to listen on 0\.0\.0\.0 \(not loopback\) without --auth-token/)
  const insecure = await startServer(t, ['--host', '0.0.0.0', '--insecure', '--groups', '1'])
  t.match(insecure.address, /^0\.0\.0\.0:\d+$/)
  const withToken = await startServer(t, ['--host', '0.0.0.0', '--auth-token', TOKEN, '--groups', '1'])
  const port = withToken.address.split(':')[1]
  t.match(await runCli(['put', 'k', 'v', '--addr', `127.0.0.1:${port}`, '--auth-token', TOKEN]), { code: 0 })
  t.equal(await insecure.stop(), 0)
  t.equal(await withToken.stop(), 0)
})

/** A self-signed certificate for 127.0.0.1 in a fresh directory, or undefined without openssl. */
function makeCertificate(): { cert: string; key: string; directory: string } | undefined {
  const directory = mkdtempSync(join(tmpdir(), 'shardkv-tls-'))
  const cert = join(directory, 'cert.pem')
  const key = join(directory, 'key.pem')
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' })
    return { cert, key, directory }
  } catch {
    rmSync(directory, { recursive: true, force: true })
    return undefined
  }
}

const certificate = makeCertificate()

t.test('--tls-cert/--tls-key serve TLS', { skip: certificate === undefined ? 'openssl is not available to make a test certificate' : false }, async (t) => {
  const { cert, key, directory } = certificate!
  t.teardown(() => rmSync(directory, { recursive: true, force: true }))
  const server = await startServer(t, ['--groups', '1', '--tls-cert', cert, '--tls-key', key])
  t.match(server.address, /^127\.0\.0\.1:\d+$/)
  const client = await connectGrpc(server.address, { tls: { ca: readFileSync(cert) } })
  t.teardown(() => client.close())
  await client.put('secure', 'yes')
  t.match(await runCli(['get', 'secure', '--addr', server.address, '--tls-ca', cert]), { code: 0, stdout: 'yes\n' })
  t.match(await runCli(['get', 'secure', '--addr', server.address, '--deadline-ms', '1000']), { code: 4 }, 'a plaintext client cannot talk to it')
  t.match(await runCli(['serve', '--tls-cert', cert]), { code: 2, stderr: /--tls-cert and --tls-key go together/ })
})
