/** `init()` options, their defaults, and the resolved configuration the client runs with. */

import { type ConsoleLevel, DEFAULT_RECORDING_OPTIONS, type RecordingOptions } from './recorder'
import { DEFAULT_IDLE_TIMEOUT_MS } from './session'

export interface SessionRecordingOptions {
    /** Mask what is typed into inputs, textareas and selects. Default true. */
    maskAllInputs?: boolean
    /** CSS selector of elements whose text is masked in recordings (besides `.rr-mask`, `.dv-mask`). */
    maskTextSelector?: string
    /** CSS selector of elements left out of recordings (besides `.rr-block`, `.dv-no-capture`, `.ph-no-capture`). */
    blockSelector?: string
    /** Console levels to record. Default `['error', 'warn']`; `[]` records none. */
    consoleLevels?: ConsoleLevel[]
}

export interface DevFlowOptions {
    /** Where the platform is, e.g. `https://analytics.example.com`. Default: this page's origin. */
    api_host?: string
    /** Clicks, changes and submits as `$autocapture` events. Default true. */
    autocapture?: boolean
    /** `$pageview` at load and on single-page-app navigation. Default true. */
    capture_pageview?: boolean
    /** `$pageleave` when the page is closed or left. Default true. */
    capture_pageleave?: boolean
    /** Turn session recording off. Default false (recording on). */
    disable_session_recording?: boolean
    session_recording?: SessionRecordingOptions
    /** Never request feature flags. Default false. */
    advanced_disable_feature_flags?: boolean
    /** Send requests uncompressed. Default false (gzip where the browser has CompressionStream). */
    disable_compression?: boolean
    /** Inactivity (seconds) after which the next activity starts a new session. Default 1800. */
    session_idle_timeout_seconds?: number
    /** How long events wait to be batched, in ms. Default 1000. */
    flush_interval_ms?: number
    /** Send as soon as this many events wait. Default 50. */
    flush_at?: number
    /** `localStorage` (default) keeps ids, super properties and the retry queue across page loads; `memory` keeps nothing. */
    persistence?: 'localStorage' | 'memory'
    /** Log what the SDK does to the console. Default false. */
    debug?: boolean
    /** Called once `init` has finished, with the SDK. */
    loaded?: (devflow: unknown) => void
}

export interface Config {
    token: string
    apiHost: string
    autocapture: boolean
    capturePageview: boolean
    capturePageleave: boolean
    recording: boolean
    recordingOptions: RecordingOptions
    featureFlags: boolean
    compress: boolean
    idleTimeoutMs: number
    flushIntervalMs: number
    flushAt: number
    persistence: 'localStorage' | 'memory'
    debug: boolean
}

function positive(value: number | undefined, fallback: number): number {
    return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback
}

export function resolveConfig(token: string, options: DevFlowOptions, pageOrigin: string | null): Config {
    const host = (options.api_host ?? pageOrigin ?? '').replace(/\/+$/, '')
    const rec = options.session_recording ?? {}
    return {
        token,
        apiHost: host,
        autocapture: options.autocapture !== false,
        capturePageview: options.capture_pageview !== false,
        capturePageleave: options.capture_pageleave !== false,
        recording: options.disable_session_recording !== true,
        recordingOptions: {
            ...DEFAULT_RECORDING_OPTIONS,
            maskAllInputs: rec.maskAllInputs !== false,
            maskTextSelector: rec.maskTextSelector ?? null,
            blockSelector: rec.blockSelector ?? null,
            consoleLevels: Array.isArray(rec.consoleLevels) ? rec.consoleLevels : DEFAULT_RECORDING_OPTIONS.consoleLevels,
        },
        featureFlags: options.advanced_disable_feature_flags !== true,
        compress: options.disable_compression !== true,
        idleTimeoutMs: positive(options.session_idle_timeout_seconds, DEFAULT_IDLE_TIMEOUT_MS / 1000) * 1000,
        flushIntervalMs: positive(options.flush_interval_ms, 1000),
        flushAt: Math.floor(positive(options.flush_at, 50)),
        persistence: options.persistence === 'memory' ? 'memory' : 'localStorage',
        debug: options.debug === true,
    }
}
