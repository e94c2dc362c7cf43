/**
 * The SDK as an ES module: `devflow` is the instance the browser bundle exposes as
 * `window.devflow`, wired to rrweb for session recording; `DevFlow` makes more (tests do).
 */

import { getRecordConsolePlugin } from '@rrweb/rrweb-plugin-console-record'
import { record } from 'rrweb'
import { DevFlow } from './client'
import type { ConsolePluginFactory, RecordFunction } from './recorder'

export const devflow = new DevFlow({
    record: record as RecordFunction,
    consolePlugin: getRecordConsolePlugin as ConsolePluginFactory,
})

export default devflow
export { DevFlow }
export type { Environment } from './client'
export type { DevFlowOptions, SessionRecordingOptions } from './config'
export type { CaptureEvent, CaptureOptions, FeatureFlagsCallback, FlagValue, Properties } from './types'
