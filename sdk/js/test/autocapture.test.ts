import assert from 'node:assert/strict'
import { afterEach, test } from 'node:test'
import { Window } from 'happy-dom'
import { autocaptureProperties, cssSelector, elementChain, looksSensitive, shouldCapture } from '../src/autocapture'
import { DevFlow } from '../src/client'
import { silent, testPlatform } from './helpers'

const windows: Window[] = []
afterEach(async () => {
    for (const win of windows.splice(0)) await win.happyDOM.close()
})

function page(html: string, url = 'https://shop.test/products'): Window {
    const win = new Window({ url })
    win.document.body.innerHTML = html
    windows.push(win)
    return win
}

const asWindow = (win: Window) => win as unknown as globalThis.Window
const el = (win: Window, selector: string) => win.document.querySelector(selector) as unknown as Element

const SHOP = `
  <div class="card featured" data-sku="A-1">
    <h2>Walnut desk</h2>
    <p>Text <button id="buy" class="btn primary" type="button" aria-label="Buy the desk"><svg class="icon"></svg><span>Buy now</span></button></p>
  </div>
  <div class="card"><a href="/cart" class="link">Cart (2)</a></div>
  <form id="signup">
    <input id="email" name="email" type="email" class="field" value="ada@example.com" placeholder="you@example.com" data-secret="x">
    <textarea name="note">private note</textarea>
  </form>
  <div class="dv-no-capture"><button id="hidden">Secret</button></div>
  <button id="ph" class="ph-no-capture">Also secret</button>
  <div id="plain">Just text</div>
  <div class="rr-mask"><a id="masked" href="/x">Masked link text</a></div>
`

test('the element chain runs from the element clicked up to body, with posthog-js fields', () => {
    const win = page(SHOP)
    const chain = elementChain(el(win, '#buy span'))
    assert.deepEqual(chain.map((e) => e.tag_name), ['span', 'button', 'p', 'div', 'body'])
    const [span, button, p, card] = chain
    assert.deepEqual(span, { tag_name: 'span', classes: [], nth_child: 2, nth_of_type: 1, $el_text: 'Buy now' })
    assert.deepEqual(button, {
        tag_name: 'button',
        classes: ['btn', 'primary'],
        nth_child: 1,
        nth_of_type: 1,
        $el_text: 'Buy now',
        attr__id: 'buy',
        attr__class: 'btn primary',
        attr__type: 'button',
        'attr__aria-label': 'Buy the desk',
    })
    assert.equal(p!.$el_text, 'Text')
    assert.equal(p!.nth_child, 2)
    assert.equal(p!.nth_of_type, 1)
    assert.deepEqual(card!.classes, ['card', 'featured'])
    assert.equal(card!['attr__data-sku'], 'A-1')
    assert.equal(card!.nth_of_type, 1)
    assert.equal(elementChain(el(win, 'a.link'))[1]!.nth_of_type, 2)
})

test('$autocapture properties: event type, elements, text of the clicked label, selector', () => {
    const win = page(SHOP)
    const props = autocaptureProperties(el(win, '#buy svg'), 'click')
    assert.equal(props.$event_type, 'click')
    assert.equal(props.$ce_version, 1)
    assert.equal(props.$el_text, 'Buy now', 'the text of the button around the icon')
    assert.equal(props.$selector, '#buy > svg.icon')
    assert.equal((props.$elements as unknown[]).length, 5)
    assert.equal(cssSelector(el(win, 'a.link')), 'body > div.card:nth-of-type(2) > a.link')
    assert.equal(win.document.querySelector(cssSelector(el(win, 'a.link'))), win.document.querySelector('a.link'))
})

test('form fields never give away their value, placeholder or other attributes', () => {
    const win = page(SHOP)
    const [input] = elementChain(el(win, '#email'))
    assert.deepEqual(input, {
        tag_name: 'input',
        classes: ['field'],
        nth_child: 1,
        nth_of_type: 1,
        attr__id: 'email',
        attr__name: 'email',
        attr__type: 'email',
        attr__class: 'field',
    })
    const [textarea] = elementChain(el(win, 'textarea'))
    assert.equal(textarea!.$el_text, undefined)
    assert.equal(JSON.stringify(autocaptureProperties(el(win, 'textarea'), 'change')).includes('private note'), false)
})

test('masked elements (rr-mask) and everything inside them have no text', () => {
    const win = page(SHOP)
    const chain = elementChain(el(win, '#masked'))
    assert.equal(chain[0]!.$el_text, undefined)
    assert.equal(chain[1]!.$el_text, undefined)
    assert.equal(autocaptureProperties(el(win, '#masked'), 'click').$el_text, undefined)
})

test('the text of a button leaves out what is masked inside it', () => {
    const win = page('<button id="pay">Pay <span class="rr-mask">$1,234.00</span> now <span class="dv-no-capture">acct 99</span></button>')
    assert.equal(elementChain(el(win, '#pay'))[0]!.$el_text, 'Pay now')
})

test('text that looks like a card number or SSN is not captured', () => {
    assert.equal(looksSensitive('4111 1111 1111 1111'), true)
    assert.equal(looksSensitive('4111 1111 1111 1112'), false)
    assert.equal(looksSensitive('123-45-6789'), true)
    assert.equal(looksSensitive('Order 12345'), false)
    const win = page('<button id="b">4242424242424242</button>')
    assert.equal(elementChain(el(win, '#b'))[0]!.$el_text, undefined)
})

test('which clicks are captured: interactive elements yes, plain text no, no-capture classes never', () => {
    const win = page(SHOP + '<div id="pointer" style="cursor: pointer">Clickable</div>')
    const w = asWindow(win)
    assert.equal(shouldCapture(el(win, '#buy span'), 'click', w), true)
    assert.equal(shouldCapture(el(win, 'a.link'), 'click', w), true)
    assert.equal(shouldCapture(el(win, '#email'), 'click', w), true)
    assert.equal(shouldCapture(el(win, '#pointer'), 'click', w), true)
    assert.equal(shouldCapture(el(win, '#plain'), 'click', w), false)
    assert.equal(shouldCapture(el(win, '#hidden'), 'click', w), false)
    assert.equal(shouldCapture(el(win, '#ph'), 'click', w), false)
    assert.equal(shouldCapture(el(win, 'form'), 'submit', w), true)
    assert.equal(shouldCapture(el(win, '#email'), 'change', w), true)
    assert.equal(shouldCapture(el(win, '#buy'), 'change', w), false)
})

function startOn(win: Window, options = {}) {
    const platform = testPlatform({ window: asWindow(win) })
    const devflow = new DevFlow({ platform, logger: silent, record: null })
    devflow.init('phc_test', { api_host: 'https://analytics.test', ...options })
    return { platform, devflow }
}

test('clicks in the page become $autocapture events through the SDK', async () => {
    const win = page(SHOP)
    const { platform } = startOn(win, { capture_pageview: false })
    ;(el(win, '#buy span') as unknown as HTMLElement).click()
    ;(el(win, '#hidden') as unknown as HTMLElement).click()
    ;(el(win, '#plain') as unknown as HTMLElement).click()
    await platform.clock.advance(1000)
    const events = platform.server.events()
    assert.deepEqual(events.map((e) => e.event), ['$autocapture'])
    assert.equal(events[0].properties.$event_type, 'click')
    assert.equal(events[0].properties.$el_text, 'Buy now')
    assert.equal(events[0].properties.$elements[1].attr__id, 'buy')
    assert.equal(events[0].properties.$current_url, 'https://shop.test/products')
})

test('typing and changing a field sends no value', async () => {
    const win = page(SHOP)
    const { platform } = startOn(win, { capture_pageview: false })
    const input = win.document.querySelector('#email') as unknown as HTMLInputElement
    input.value = 'typed-secret@example.com'
    input.dispatchEvent(new win.Event('change', { bubbles: true }) as unknown as Event)
    await platform.clock.advance(1000)
    const [change] = platform.server.events()
    assert.equal(change.properties.$event_type, 'change')
    const json = JSON.stringify(platform.server.events())
    assert.equal(json.includes('typed-secret'), false)
    assert.equal(json.includes('ada@example.com'), false)
})

test('autocapture: false captures no clicks', async () => {
    const win = page(SHOP)
    const { platform } = startOn(win, { autocapture: false, capture_pageview: false })
    ;(el(win, '#buy') as unknown as HTMLElement).click()
    await platform.clock.advance(1000)
    assert.equal(platform.server.events().length, 0)
})

test('$pageview at init and on pushState, replaceState and popstate navigation; not for hash changes', async () => {
    const win = page('<p>hi</p>', 'https://shop.test/home')
    win.document.title = 'Home'
    const { platform } = startOn(win)
    await platform.clock.advance(4000)
    win.history.pushState({}, '', '/products?page=2')
    win.history.replaceState({}, '', '/products?page=2#reviews')
    win.history.replaceState({}, '', '/products?page=3')
    win.history.pushState({}, '', '/home')
    win.dispatchEvent(new win.PopStateEvent('popstate'))
    await platform.clock.advance(1000)
    const views = platform.server.events().filter((e) => e.event === '$pageview')
    assert.deepEqual(views.map((e) => e.properties.$pathname + new URL(e.properties.$current_url).search), [
        '/home',
        '/products?page=2',
        '/products?page=3',
        '/home',
    ])
    assert.equal(views[0].properties.title, 'Home')
    assert.equal(views[1].properties.$prev_pageview_pathname, '/home')
    assert.equal(views[1].properties.$prev_pageview_duration, 4)
})

test('pagehide sends $pageleave and everything pending by beacon', async () => {
    const win = page('<p>hi</p>', 'https://shop.test/home')
    const { platform, devflow } = startOn(win)
    devflow.capture('pending')
    win.dispatchEvent(new win.Event('pagehide'))
    assert.equal(platform.beacons.length, 1)
    assert.equal(platform.beacons[0]!.url, 'https://analytics.test/batch/?beacon=1')
    const batch = JSON.parse(platform.beacons[0]!.body).batch
    assert.deepEqual(batch.map((e: { event: string }) => e.event), ['$pageview', 'pending', '$pageleave'])
    assert.equal(batch[2].properties.$prev_pageview_pathname, '/home')
})
