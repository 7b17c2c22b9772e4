// A cursor-paginated API list fetched page after page, up to a cap.

import type { Page } from "./api";

export interface Collected<T> {
  items: T[];
  /** Items in the whole list (the server's count; at least the items fetched). */
  total: number;
  /** Every item of the list was fetched. */
  complete: boolean;
}

/** The items of a paginated list, page after page, stopping once `max` are in hand (the rest
 * are counted from the server's `total`, not fetched). */
export async function collectPages<T>(
  fetchPage: (cursor: string | null) => Promise<Page<T>>,
  max: number,
): Promise<Collected<T>> {
  const items: T[] = [];
  let cursor: string | null = null;
  let total = 0;
  do {
    const page: Page<T> = await fetchPage(cursor);
    items.push(...page.items);
    total = page.total ?? items.length;
    cursor = page.next_cursor;
  } while (cursor !== null && items.length < max);
  const kept = items.slice(0, max);
  return { items: kept, total: Math.max(total, items.length), complete: cursor === null && kept.length === items.length };
}
