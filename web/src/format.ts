// How values look: amounts, times, node colours by category and sizes by value.

/** Satoshis as BTC with up to 8 decimals, trailing zeros dropped: 123450000 → "1.2345 BTC". */
export function btc(sats: number): string {
  const sign = sats < 0 ? "-" : "";
  const abs = Math.abs(Math.round(sats));
  const whole = Math.floor(abs / 1e8);
  const frac = String(abs % 1e8).padStart(8, "0").replace(/0+$/, "");
  return `${sign}${whole}${frac ? "." + frac : ""} BTC`;
}

/** An ISO time as "2025-03-01 15:50" (UTC), or "" when absent. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().slice(0, 16).replace("T", " ");
}

/** A long id shortened for a canvas label: "bcrt1qlwra…9dw6". */
export function shortId(id: string, keep = 6): string {
  return id.length <= keep * 2 + 1 ? id : `${id.slice(0, keep)}…${id.slice(-4)}`;
}

/** Colours per GraphSense category (docs/tags.md); anything else is grey. */
export const CATEGORY_COLOURS: Record<string, string> = {
  exchange: "#1f77b4",
  miner: "#ff7f0e",
  mining_service: "#ff7f0e",
  market: "#d62728",
  darkweb: "#d62728",
  service: "#9467bd",
  mixing_service: "#8c564b",
  coinjoin: "#8c564b",
  gambling: "#e377c2",
  wallet_service: "#17becf",
  payment_processor: "#bcbd22",
  ransomware: "#7f0000",
  scam: "#b30000",
  perpetrator: "#b30000",
  user: "#2ca02c",
};
export const UNKNOWN_COLOUR = "#8a8f98";
export const TX_COLOUR = "#c9a227";

export function categoryColour(category: string | null | undefined): string {
  return (category && CATEGORY_COLOURS[category]) || UNKNOWN_COLOUR;
}

/** Node radius in pixels from its value: logarithmic, 4 px for dust up to 22 px at 10,000 BTC. */
export function nodeSize(valueSats: number): number {
  if (valueSats <= 0) return 4;
  const btcValue = valueSats / 1e8;
  const s = 6 + 3 * Math.log10(1 + btcValue * 100);
  return Math.max(4, Math.min(22, Math.round(s * 10) / 10));
}
