/**
 * The module entry with the real rrweb, on a happy-dom page: the public API's names, and that
 * what rrweb records leaves typed text, masked text and blocked elements out.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Window } from 'happy-dom'
import { silent, testPlatform } from './helpers'

// rrweb reads the page's globals (document, Node, MutationObserver, ...): give it happy-dom's.
const GLOBALS = ['window', 'document', 'Node', 'Element', 'HTMLElement', 'Document', 'DocumentFragment', 'ShadowRoot', 'Text', 'Event', 'MutationObserver', 'HTMLInputElement', 'HTMLTextAreaElement', 'HTMLSelectElement', 'HTMLFormElement', 'HTMLIFrameElement', 'HTMLCanvasElement', 'HTMLImageElement', 'HTMLLinkElement', 'HTMLStyleElement', 'HTMLMediaElement', 'CSSStyleSheet', 'CSSRule', 'CSSStyleRule', 'CSSGroupingRule', 'CSSMediaRule', 'CSSConditionRule', 'CSSSupportsRule', 'CSSImportRule', 'StyleSheet', 'XMLSerializer', 'location']

function installGlobals(win: Window): () => void {
    const saved = new Map<string, PropertyDescriptor | undefined>()
    for (const name of GLOBALS) {
        saved.set(name, Object.getOwnPropertyDescriptor(globalThis, name))
        Object.defineProperty(globalThis, name, { value: (win as unknown as Record<string, unknown>)[name], configurable: true, writable: true })
    }
    return () => {
        for (const [name, descriptor] of saved) {
            if (descriptor) Object.defineProperty(globalThis, name, descriptor)
            else delete (globalThis as Record<string, unknown>)[name]
        }
    }
}

test('the public API has posthog-js names', async () => {
    const { devflow, DevFlow } = await import('../src/index')
    assert.ok(devflow instanceof DevFlow)
    const methods = Object.getOwnPropertyNames(DevFlow.prototype)
        .filter((name) => name !== 'constructor' && typeof (DevFlow.prototype as unknown as Record<string, unknown>)[name] === 'function')
        .filter((name) => !['flagProperties', 'listen', 'logger'].includes(name))
        .sort()
    assert.deepEqual(methods, [
        'alias',
        'capture',
        'flush',
        'getFeatureFlag',
        'getFeatureFlagPayload',
        'get_distinct_id',
        'get_session_id',
        'group',
        'identify',
        'init',
        'isFeatureEnabled',
        'onFeatureFlags',
        'register',
        'reloadFeatureFlags',
        'reset',
        'setPersonPropertiesForFlags',
        'startSessionRecording',
        'stopSessionRecording',
        'unregister',
    ])
})

test('with the real rrweb: typed text, masked text and blocked elements stay out of $snapshot', async () => {
    const win = new Window({ url: 'https://shop.test/signup' })
    win.document.body.innerHTML = `
        <form><input id="email" type="text"><input id="pw" type="password"></form>
        <p class="rr-mask">Ada Lovelace, 12 Main St</p>
        <div class="dv-no-capture"><span>blocked account number</span></div>
        <button id="go">Sign up</button>`
    const restore = installGlobals(win)
    try {
        const { record } = await import('rrweb')
        const { getRecordConsolePlugin } = await import('@rrweb/rrweb-plugin-console-record')
        const { DevFlow } = await import('../src/client')
        const platform = testPlatform({ window: win as unknown as globalThis.Window })
        const devflow = new DevFlow({ platform, logger: silent, record: record as never, consolePlugin: getRecordConsolePlugin as never })
        devflow.init('phc_test', { api_host: 'https://analytics.test' })
        const email = win.document.getElementById('email') as unknown as HTMLInputElement
        email.value = 'typed-secret@example.com'
        email.dispatchEvent(new win.Event('input', { bubbles: true }) as unknown as Event)
        const pw = win.document.getElementById('pw') as unknown as HTMLInputElement
        pw.value = 'hunter2'
        pw.dispatchEvent(new win.Event('input', { bubbles: true }) as unknown as Event)
        ;(win.document.getElementById('go') as unknown as HTMLElement).click()
        await new Promise((resolve) => setTimeout(resolve, 50)) // rrweb's own timers
        await devflow.flush()
        const sent = JSON.stringify(platform.server.requests.map((r) => r.json()))
        const snapshots = platform.server.events('/s/')
        assert.ok(snapshots.length >= 1)
        const data = snapshots.flatMap((s) => s.properties.$snapshot_data)
        assert.ok(data.some((e) => e.type === 2), 'a full snapshot')
        assert.ok(data.some((e) => e.type === 3 && e.data.source === 5 && /^\*+$/.test(e.data.text)), 'a masked input event')
        assert.equal(sent.includes('typed-secret'), false)
        assert.equal(sent.includes('hunter2'), false)
        assert.equal(sent.includes('Ada Lovelace'), false)
        assert.equal(sent.includes('blocked account number'), false)
        assert.equal(sent.includes('Sign up'), true, 'unmasked text is recorded')
        devflow.stopSessionRecording()
    } finally {
        restore()
        await win.happyDOM.close()
    }
})
