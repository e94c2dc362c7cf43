/** The SDK's console output: warnings always, details only with `debug: true`. */

export interface Logger {
    debug(message: string, ...details: unknown[]): void
    warn(message: string, ...details: unknown[]): void
}

const PREFIX = '[devflow]'

export function consoleLogger(debug: boolean): Logger {
    return {
        debug: (message, ...details) => {
            if (debug && typeof console !== 'undefined') {
                console.log(PREFIX, message, ...details)
            }
        },
        warn: (message, ...details) => {
            if (typeof console !== 'undefined') {
                console.warn(PREFIX, message, ...details)
            }
        },
    }
}

export const silentLogger: Logger = { debug: () => {}, warn: () => {} }
