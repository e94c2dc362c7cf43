// Compiles test/*.test.ts with esbuild (one ESM bundle per file, packages left external) into
// .test-build/ and runs them with node's built-in test runner. Exits with the runner's status.
import { spawnSync } from 'node:child_process'
import { readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { build } from 'esbuild'

const root = new URL('..', import.meta.url).pathname
const outdir = join(root, '.test-build')
const only = process.argv.slice(2)
const tests = readdirSync(join(root, 'test'))
    .filter((f) => f.endsWith('.test.ts'))
    .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
    .map((f) => join('test', f))

rmSync(outdir, { recursive: true, force: true })
await build({
    absWorkingDir: root,
    entryPoints: tests,
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    define: { __DEVFLOW_VERSION__: JSON.stringify('0.0.0-test') },
    logLevel: 'warning',
})

const files = readdirSync(outdir).filter((f) => f.endsWith('.test.mjs')).map((f) => join(outdir, f))
const run = spawnSync(process.execPath, ['--enable-source-maps', '--test', ...files], { stdio: 'inherit' })
process.exit(run.status ?? 1)
