/**
 * `$pageview` at load and on every navigation of a single-page app (history.pushState,
 * replaceState, popstate) that changes the URL other than its hash; `$pageleave` when the page
 * goes away. Both carry the previous page's path and how long it was shown (seconds).
 */

import type { Properties } from './types'

type Capture = (event: string, properties: Properties) => void

function urlWithoutHash(href: string): string {
    const hash = href.indexOf('#')
    return hash === -1 ? href : href.slice(0, hash)
}

export class PageviewTracker {
    private lastUrl: string | null = null
    private lastPathname: string | null = null
    private lastShownAt = 0
    private patched = false
    private readonly onPopState = (): void => this.navigated()

    constructor(
        private readonly win: Window,
        private readonly now: () => number,
        private readonly capture: Capture,
    ) {}

    /** Watches navigation; with `captureNow`, also sends the pageview of the current page. */
    start(captureNow: boolean): void {
        if (captureNow) {
            this.pageview()
        } else {
            this.remember()
        }
        if (this.patched) return
        this.patched = true
        const history = this.win.history
        for (const method of ['pushState', 'replaceState'] as const) {
            const original = history[method]
            if (typeof original !== 'function') continue
            const tracker = this
            history[method] = function (this: History, ...args: Parameters<History['pushState']>) {
                const result = original.apply(this, args)
                tracker.navigated()
                return result
            }
        }
        this.win.addEventListener('popstate', this.onPopState)
    }

    /** Sends `$pageview` for the current URL. */
    pageview(): void {
        const props: Properties = { title: this.win.document?.title ?? '' }
        Object.assign(props, this.previousPage())
        this.remember()
        this.capture('$pageview', props)
    }

    /** Sends `$pageleave` for the page being left. */
    pageleave(): void {
        this.capture('$pageleave', this.previousPage())
    }

    private navigated(): void {
        if (urlWithoutHash(this.win.location.href) !== this.lastUrl) {
            this.pageview()
        }
    }

    private remember(): void {
        this.lastUrl = urlWithoutHash(this.win.location.href)
        this.lastPathname = this.win.location.pathname
        this.lastShownAt = this.now()
    }

    private previousPage(): Properties {
        if (this.lastPathname === null) {
            return {}
        }
        return {
            $prev_pageview_pathname: this.lastPathname,
            $prev_pageview_duration: Math.round((this.now() - this.lastShownAt) / 100) / 10,
        }
    }
}
