/**
 * The API key lives in sessionStorage only: it survives a reload of this tab
 * and is gone when the tab closes. Never a cookie (nothing sends it
 * implicitly), never localStorage, never a URL.
 */
const STORAGE_KEY = 'alluse.apiKey';

export const storedKey = (): string | null => sessionStorage.getItem(STORAGE_KEY);
export const storeKey = (key: string): void => sessionStorage.setItem(STORAGE_KEY, key);
export const forgetKey = (): void => sessionStorage.removeItem(STORAGE_KEY);
