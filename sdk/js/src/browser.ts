/** Entry of the `<script>` bundle: puts the SDK on `window.devflow`. */

import { devflow } from './index'

declare global {
    interface Window {
        devflow?: unknown
    }
}

if (typeof window !== 'undefined') {
    const existing = window.devflow as { init?: unknown } | undefined
    // Loaded twice (two script tags): keep the first copy, which may be initialised already.
    if (!existing || typeof existing.init !== 'function') {
        window.devflow = devflow
    }
}
