import { describe, expect, it } from "vitest";
import type { Page } from "./api";
import { collectPages } from "./pages";

/** A server list of `n` numbers served `size` at a time, counting the requests. */
function server(n: number, size: number, withTotal = true) {
  const calls: (string | null)[] = [];
  const fetchPage = async (cursor: string | null): Promise<Page<number>> => {
    calls.push(cursor);
    const start = cursor === null ? 0 : Number(cursor);
    const items = Array.from({ length: Math.max(0, Math.min(size, n - start)) }, (_, i) => start + i);
    const next = start + size < n ? String(start + size) : null;
    return { items, next_cursor: next, total: withTotal ? n : null };
  };
  return { calls, fetchPage };
}

describe("collectPages", () => {
  it("follows the cursor to the end of a list under the cap", async () => {
    const s = server(1234, 500);
    const got = await collectPages(s.fetchPage, 5000);
    expect(got.items).toEqual(Array.from({ length: 1234 }, (_, i) => i));
    expect(got).toMatchObject({ total: 1234, complete: true });
    expect(s.calls).toEqual([null, "500", "1000"]);
  });

  it("stops at the cap and counts what it did not fetch", async () => {
    const s = server(12_000, 500);
    const got = await collectPages(s.fetchPage, 2000);
    expect(got.items.length).toBe(2000);
    expect(got.items[1999]).toBe(1999);
    expect(got).toMatchObject({ total: 12_000, complete: false });
    expect(s.calls.length).toBe(4);
  });

  it("trims a last page that overshoots the cap", async () => {
    const got = await collectPages(server(1000, 300).fetchPage, 500);
    expect(got.items.length).toBe(500);
    expect(got.complete).toBe(false);
  });

  it("without a server total counts what it fetched", async () => {
    const got = await collectPages(server(70, 50, false).fetchPage, 5000);
    expect(got).toMatchObject({ total: 70, complete: true });
  });

  it("an empty list is one request", async () => {
    const s = server(0, 500);
    expect(await collectPages(s.fetchPage, 10)).toEqual({ items: [], total: 0, complete: true });
    expect(s.calls).toEqual([null]);
  });
});
