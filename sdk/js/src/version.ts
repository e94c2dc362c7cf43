/** The SDK's version, written into the bundle from package.json by the build. */

declare const __DEVFLOW_VERSION__: string | undefined

export const VERSION: string = typeof __DEVFLOW_VERSION__ === 'string' ? __DEVFLOW_VERSION__ : '0.0.0-dev'
