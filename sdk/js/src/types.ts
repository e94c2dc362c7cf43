/** Types shared by the SDK's modules and its public API. */

export type Properties = Record<string, unknown>

/** A flag's value: `false` when off, `true` or the variant's key when on. */
export type FlagValue = boolean | string

/** One event as it goes over the wire to `/batch/` (and, as `$snapshot`, to `/s/`). */
export interface CaptureEvent {
    uuid: string
    event: string
    distinct_id: string
    properties: Properties
    /** ISO 8601, UTC. */
    timestamp: string
    $set?: Properties
    $set_once?: Properties
}

/** Options of `capture()`. */
export interface CaptureOptions {
    $set?: Properties
    $set_once?: Properties
    /** When the event happened; defaults to now. */
    timestamp?: Date
}

export type FeatureFlagsCallback = (
    flags: string[],
    variants: Record<string, FlagValue>,
    context: { errorsLoading: boolean },
) => void
