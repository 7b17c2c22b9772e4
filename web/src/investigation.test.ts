import { describe, expect, it } from "vitest";
import { investigationDoc } from "./investigation";

const caseDoc = {
  seeds: ["bcrt1qseed"],
  service: { cluster: 10 },
  summary: { total_received_sats: 5000 },
  cashouts: [
    { entity: "exchange-alpha", amount_sats: 300, txid: "c1", vout: 0 },
    { entity: "exchange-alpha", amount_sats: 200, txid: "c2", vout: 1 },
  ],
};
const lead = (group: string, customer: string, amount: number, funding: string, entity: string) => ({
  customer_group: group, customer_cluster: customer, amount_sats: String(amount), payment_time: "2025-03-01T00:00:00Z",
  funding_entity: entity, funding_category: "exchange", funding_cluster: funding, funding_amount_sats: "900", payer_addresses: "bcrt1qp",
});

describe("investigationDoc", () => {
  it("draws funding → customers → service → cash-outs in columns, summing repeated payments", () => {
    const d = investigationDoc("demo", caseDoc, [lead("1", "20", 100, "30", "exchange-beta"), lead("1", "20", 50, "30", "exchange-beta"), lead("2", "21", 70, "31", "exchange-gamma")]);
    expect(d.caseName).toBe("demo");
    expect(Object.keys(d.nodes).sort()).toEqual(["cluster:10", "cluster:20", "cluster:21", "cluster:30", "cluster:31", "entity:exchange-alpha"]);
    expect(d.edges["flow:cluster:20>cluster:10"]).toMatchObject({ valueSats: 150, txCount: 2 });
    expect(d.edges["flow:cluster:10>entity:exchange-alpha"].valueSats).toBe(500);
    const x = (id: string) => d.nodes[id].x;
    expect(x("cluster:30")).toBeLessThan(x("cluster:20"));
    expect(x("cluster:20")).toBeLessThan(x("cluster:10"));
    expect(x("cluster:10")).toBeLessThan(x("entity:exchange-alpha"));
    expect(d.nodes["cluster:30"].label).toBe("exchange-beta");
    expect(d.nodes["cluster:10"].seedAddress).toBe("bcrt1qseed");
    expect(d.nodes["cluster:20"].y).not.toBe(d.nodes["cluster:21"].y);
  });
});
