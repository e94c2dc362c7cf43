/**
 * Autocapture of clicks, changes and form submits as `$autocapture` events, in posthog-js's shape:
 * `$event_type`, `$elements` (the chain from the element clicked up to `<body>`), `$el_text` and
 * `$selector`. Elements with the `dv-no-capture` or `ph-no-capture` class (or inside one) are
 * never captured. Values of form fields are never read; their text and attributes are left out
 * except for a few that name the field.
 */

import type { Properties } from './types'

export const NO_CAPTURE_CLASSES = ['dv-no-capture', 'ph-no-capture']
const MASK_CLASSES = ['rr-mask', 'dv-mask']
// Clicks on these (or inside them) are interactions worth an event; a click on plain text isn't.
const INTERACTIVE_TAGS = new Set(['a', 'button', 'input', 'select', 'textarea', 'label', 'summary', 'option'])
const INTERACTIVE_ROLES = new Set(['button', 'link', 'checkbox', 'menuitem', 'option', 'radio', 'switch', 'tab'])
const FORM_FIELDS = new Set(['input', 'select', 'textarea'])
// The only attributes kept on a form field: they say which field it is, not what is in it.
const FIELD_ATTRIBUTES = new Set(['name', 'id', 'class', 'type', 'aria-label'])
const MAX_TEXT = 1024
const MAX_CHAIN = 50

export interface ElementInfo {
    tag_name: string
    classes: string[]
    nth_child: number
    nth_of_type: number
    $el_text?: string
    attr__id?: string
    [attribute: `attr__${string}`]: string | undefined
}

const ELEMENT_NODE = 1
const DOCUMENT_FRAGMENT_NODE = 11

function isElement(node: Node | null | undefined): node is Element {
    return !!node && node.nodeType === ELEMENT_NODE
}

function tagOf(el: Element): string {
    return el.tagName.toLowerCase()
}

/** Class names as written (SVG elements have no string className). */
export function classesOf(el: Element): string[] {
    return (el.getAttribute('class') ?? '').split(/\s+/).filter(Boolean)
}

function hasAnyClass(el: Element, names: string[]): boolean {
    const classes = classesOf(el)
    return names.some((name) => classes.includes(name))
}

/** The parent element, stepping out of a shadow root to its host. */
function parentOf(el: Element): Element | null {
    const parent = el.parentNode
    if (isElement(parent)) {
        return parent
    }
    if (parent && parent.nodeType === DOCUMENT_FRAGMENT_NODE && 'host' in parent) {
        const host = (parent as ShadowRoot).host
        return isElement(host) ? host : null
    }
    return null
}

/** The element and its ancestors up to and including `<body>`. */
function ancestry(el: Element): Element[] {
    const chain: Element[] = []
    let current: Element | null = el
    while (current && chain.length < MAX_CHAIN && tagOf(current) !== 'html') {
        chain.push(current)
        if (tagOf(current) === 'body') {
            break
        }
        current = parentOf(current)
    }
    return chain
}

export function isFormField(el: Element): boolean {
    return FORM_FIELDS.has(tagOf(el)) || el.getAttribute('contenteditable') === 'true' || el.getAttribute('contenteditable') === ''
}

/** Digits that pass the Luhn check (card numbers) or look like a US social security number. */
export function looksSensitive(text: string): boolean {
    const compact = text.replace(/[\s-]/g, '')
    if (/^\d{3}-?\d{2}-?\d{4}$/.test(text.trim())) {
        return true
    }
    if (!/^\d{13,19}$/.test(compact)) {
        return false
    }
    let sum = 0
    for (let i = 0; i < compact.length; i++) {
        let digit = compact.charCodeAt(compact.length - 1 - i) - 48
        if (i % 2 === 1) {
            digit *= 2
            if (digit > 9) digit -= 9
        }
        sum += digit
    }
    return sum % 10 === 0
}

function cleanText(text: string): string {
    const collapsed = text.replace(/\s+/g, ' ').trim()
    if (!collapsed || looksSensitive(collapsed)) {
        return ''
    }
    return collapsed.slice(0, MAX_TEXT)
}

/**
 * The text an element shows: all of it for links and buttons (their label is often in a nested
 * span), only its own text nodes for anything else. Nothing for form fields and masked elements.
 */
export function elementText(el: Element, masked = false): string {
    if (masked || isFormField(el)) {
        return ''
    }
    const tag = tagOf(el)
    const nested = tag === 'a' || tag === 'button'
    const parts: string[] = []
    collectText(el, nested, parts)
    return cleanText(parts.join(' '))
}

/** Text nodes of `el` (and with `nested`, of its descendants, except masked or hidden ones). */
function collectText(el: Element, nested: boolean, parts: string[]): void {
    el.childNodes.forEach((child) => {
        if (child.nodeType === 3) {
            parts.push(child.textContent ?? '')
        } else if (nested && isElement(child) && !hasAnyClass(child, [...MASK_CLASSES, ...NO_CAPTURE_CLASSES]) && !isFormField(child)) {
            collectText(child, true, parts)
        }
    })
}

function position(el: Element): { nthChild: number; nthOfType: number } {
    let nthChild = 1
    let nthOfType = 1
    for (let sibling = el.previousElementSibling; sibling; sibling = sibling.previousElementSibling) {
        nthChild++
        if (sibling.tagName === el.tagName) {
            nthOfType++
        }
    }
    return { nthChild, nthOfType }
}

function describe(el: Element, masked: boolean): ElementInfo {
    const { nthChild, nthOfType } = position(el)
    const info: ElementInfo = {
        tag_name: tagOf(el),
        classes: classesOf(el),
        nth_child: nthChild,
        nth_of_type: nthOfType,
    }
    const text = elementText(el, masked)
    if (text) {
        info.$el_text = text
    }
    const field = isFormField(el)
    for (const attr of Array.from(el.attributes)) {
        const name = attr.name.toLowerCase()
        if (field && !FIELD_ATTRIBUTES.has(name)) {
            continue // never a form field's value, placeholder or anything else it holds
        }
        if (name === 'value' || looksSensitive(attr.value)) {
            continue
        }
        info[`attr__${name}`] = attr.value.slice(0, MAX_TEXT)
    }
    return info
}

/** `$elements` for an element: itself first, then each ancestor up to `<body>`. */
export function elementChain(el: Element): ElementInfo[] {
    const chain = ancestry(el)
    // Masking applies to an element and everything inside it.
    const maskedFrom = chain.findIndex((e) => hasAnyClass(e, MASK_CLASSES))
    return chain.map((e, i) => describe(e, maskedFrom !== -1 && i <= maskedFrom))
}

const SIMPLE_IDENT = /^[A-Za-z_][\w-]*$/

/** A CSS selector for the element: from the nearest ancestor with an id, tags, classes and positions. */
export function cssSelector(el: Element): string {
    const parts: string[] = []
    for (const current of ancestry(el)) {
        const id = current.getAttribute('id')
        if (id && SIMPLE_IDENT.test(id)) {
            parts.unshift(`#${id}`)
            break
        }
        let part = tagOf(current)
        const classes = classesOf(current).filter((c) => SIMPLE_IDENT.test(c) && !NO_CAPTURE_CLASSES.includes(c))
        for (const cls of classes.slice(0, 3)) {
            part += `.${cls}`
        }
        const parent = parentOf(current)
        if (parent && tagOf(current) !== 'body') {
            const sameTag = Array.from(parent.children).filter((c) => c.tagName === current.tagName)
            if (sameTag.length > 1) {
                part += `:nth-of-type(${sameTag.indexOf(current) + 1})`
            }
        }
        parts.unshift(part)
    }
    return parts.join(' > ')
}

function hasPointerCursor(el: Element, win: Window): boolean {
    try {
        return win.getComputedStyle(el).getPropertyValue('cursor') === 'pointer'
    } catch {
        return false
    }
}

function isInteractive(el: Element): boolean {
    const role = el.getAttribute('role')
    return INTERACTIVE_TAGS.has(tagOf(el)) || (role !== null && INTERACTIVE_ROLES.has(role)) || isFormField(el)
}

/** Whether a DOM event on `target` becomes an `$autocapture` event. */
export function shouldCapture(target: Element, eventType: string, win: Window): boolean {
    const chain = ancestry(target)
    if (chain.length === 0 || chain.some((e) => hasAnyClass(e, NO_CAPTURE_CLASSES))) {
        return false
    }
    const tag = tagOf(target)
    if (eventType === 'submit') {
        return tag === 'form'
    }
    if (eventType === 'change') {
        return isFormField(target)
    }
    if (eventType !== 'click' || tag === 'body') {
        return false
    }
    return chain.some((e) => isInteractive(e)) || hasPointerCursor(target, win)
}

/** The properties of an `$autocapture` event for a DOM event on `target`. */
export function autocaptureProperties(target: Element, eventType: string): Properties {
    const elements = elementChain(target)
    const props: Properties = {
        $event_type: eventType,
        $ce_version: 1,
        $elements: elements,
        $selector: cssSelector(target),
    }
    // The text of the element clicked, or else of the link or button around it.
    const labelled = elements[0]?.$el_text ? elements[0] : elements.find((e) => e.tag_name === 'a' || e.tag_name === 'button')
    if (labelled?.$el_text) {
        props.$el_text = labelled.$el_text
    }
    return props
}

const DOM_EVENTS = ['click', 'change', 'submit'] as const

export class Autocapture {
    private readonly handler = (event: Event): void => this.onEvent(event)
    private started = false

    constructor(
        private readonly win: Window,
        private readonly capture: (event: string, properties: Properties) => void,
    ) {}

    start(): void {
        if (this.started) return
        this.started = true
        for (const type of DOM_EVENTS) {
            // Capture phase: a handler that stops propagation must not hide the click from us.
            this.win.document.addEventListener(type, this.handler, true)
        }
    }

    stop(): void {
        if (!this.started) return
        this.started = false
        for (const type of DOM_EVENTS) {
            this.win.document.removeEventListener(type, this.handler, true)
        }
    }

    private onEvent(event: Event): void {
        let target = event.target as Node | null
        if (target && target.nodeType === 3) {
            target = target.parentNode // a click on text reaches us with the text node
        }
        // A click inside an open shadow root reaches the document retargeted to the host.
        const path = typeof event.composedPath === 'function' ? event.composedPath() : []
        const first = path[0] as Node | undefined
        if (isElement(first)) {
            target = first
        }
        if (!isElement(target) || !shouldCapture(target, event.type, this.win)) {
            return
        }
        this.capture('$autocapture', autocaptureProperties(target, event.type))
    }
}
