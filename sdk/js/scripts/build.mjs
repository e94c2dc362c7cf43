// Bundles src/browser.ts into dist/devflow.js: one minified IIFE that sets window.devflow.
import { readFileSync } from 'node:fs'
import { build } from 'esbuild'

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))

const result = await build({
    absWorkingDir: new URL('..', import.meta.url).pathname,
    entryPoints: ['src/browser.ts'],
    outfile: 'dist/devflow.js',
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: 'linked',
    legalComments: 'none',
    define: { __DEVFLOW_VERSION__: JSON.stringify(pkg.version) },
    metafile: true,
    logLevel: 'warning',
})

const bytes = result.metafile.outputs['dist/devflow.js'].bytes
console.log(`dist/devflow.js: ${(bytes / 1024).toFixed(1)} KiB (devflow-js ${pkg.version})`)
