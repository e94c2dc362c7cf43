/**
 * Key-value persistence. The browser's Web Storage can be missing (old browsers), throw on access
 * (disabled cookies, sandboxed iframes) or be full; every caller goes through this interface so
 * that such failures degrade to memory instead of breaking capture.
 */

export interface KeyValueStore {
    get(key: string): string | null
    /** Returns false when the value could not be stored (quota, disabled storage). */
    set(key: string, value: string): boolean
    remove(key: string): void
}

export class MemoryStore implements KeyValueStore {
    private readonly items = new Map<string, string>()

    get(key: string): string | null {
        return this.items.get(key) ?? null
    }

    set(key: string, value: string): boolean {
        this.items.set(key, value)
        return true
    }

    remove(key: string): void {
        this.items.delete(key)
    }

    keys(): string[] {
        return [...this.items.keys()]
    }
}

/** Wraps a Web Storage object; reads and writes that throw are treated as misses and failures. */
export class WebStore implements KeyValueStore {
    constructor(private readonly storage: Storage) {}

    get(key: string): string | null {
        try {
            return this.storage.getItem(key)
        } catch {
            return null
        }
    }

    set(key: string, value: string): boolean {
        try {
            this.storage.setItem(key, value)
            return true
        } catch {
            return false
        }
    }

    remove(key: string): void {
        try {
            this.storage.removeItem(key)
        } catch {
            // Nothing to do: a store that can't be written holds nothing of ours.
        }
    }
}

/**
 * The window's `localStorage` or `sessionStorage` when it works (probed with a write), else a
 * memory store that lasts as long as the page.
 */
export function webStoreOrMemory(
    win: Window | null,
    kind: 'localStorage' | 'sessionStorage',
): KeyValueStore {
    try {
        const storage = win?.[kind]
        if (storage) {
            const probe = '__dv_probe__'
            storage.setItem(probe, '1')
            storage.removeItem(probe)
            return new WebStore(storage)
        }
    } catch {
        // Access itself throws when storage is disabled.
    }
    return new MemoryStore()
}

export function readJSON<T>(store: KeyValueStore, key: string): T | null {
    const raw = store.get(key)
    if (raw === null) {
        return null
    }
    try {
        return JSON.parse(raw) as T
    } catch {
        return null
    }
}

export function writeJSON(store: KeyValueStore, key: string, value: unknown): boolean {
    return store.set(key, JSON.stringify(value))
}
