/** The page and device properties sent with every event, named as posthog-js names them. */

import type { Properties } from './types'
import { VERSION } from './version'

export const LIB_NAME = 'devflow-js'

export function pageProperties(win: Window | null): Properties {
    const props: Properties = { $lib: LIB_NAME, $lib_version: VERSION }
    if (!win) {
        return props
    }
    const { location, document, screen, navigator } = win
    if (location) {
        props.$current_url = location.href
        props.$host = location.host
        props.$pathname = location.pathname
    }
    const referrer = document?.referrer ?? ''
    props.$referrer = referrer || '$direct'
    props.$referring_domain = referringDomain(referrer)
    if (screen) {
        props.$screen_height = screen.height
        props.$screen_width = screen.width
    }
    props.$viewport_height = win.innerHeight
    props.$viewport_width = win.innerWidth
    if (navigator) {
        props.$browser_language = navigator.language
        props.$raw_user_agent = navigator.userAgent
    }
    try {
        props.$timezone = Intl.DateTimeFormat().resolvedOptions().timeZone
    } catch {
        // Intl without time zone support: leave it out.
    }
    return props
}

function referringDomain(referrer: string): string {
    if (!referrer) {
        return '$direct'
    }
    try {
        return new URL(referrer).host || '$direct'
    } catch {
        return '$direct'
    }
}
