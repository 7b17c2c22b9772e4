import { describe, expect, it } from "vitest";
import { clusterNode, leadElements, neighbourElements, traceElements, txElements, txRowElements } from "./convert";

describe("convert", () => {
  it("a cluster profile becomes a node labelled by its tags, seeded by its top address", () => {
    const n = clusterNode({ cluster_id: 44, size: 2096, total_received: 5e11, labels: ["exchange-gamma"], category: "exchange", top_addresses: [{ address: "bcrt1qa" }] });
    expect(n).toMatchObject({ id: "cluster:44", label: "exchange-gamma", category: "exchange", size: 2096, seedAddress: "bcrt1qa" });
    expect(clusterNode({ cluster_id: 7 }, "bcrt1qz")).toMatchObject({ label: "cluster 7", seedAddress: "bcrt1qz" });
  });

  it("neighbours in point at the centre, neighbours out away from it", () => {
    const row = { cluster_id: 9, value_sats: 50, tx_count: 2, first_time: null, last_time: "2025-03-01T00:00:00Z", labels: [], category: null, size: 3 };
    expect(neighbourElements("cluster:1", "in", [row]).edges[0]).toMatchObject({ source: "cluster:9", target: "cluster:1", valueSats: 50, txCount: 2 });
    expect(neighbourElements("cluster:1", "out", [row]).edges[0]).toMatchObject({ source: "cluster:1", target: "cluster:9" });
  });

  it("a transaction links input addresses to it and it to output addresses, each with its cluster", () => {
    const { nodes, edges } = txElements({
      txid: "ab".repeat(32), height: 5, time: "2025-03-01T00:00:00Z", fee_sats: 10,
      inputs: [{ address: "bcrt1qin", value_sats: 110, cluster: 3, labels: [] }],
      outputs: [{ address: "bcrt1qout", value_sats: 60, cluster: 4, labels: ["shop"] }, { address: "bcrt1qin", value_sats: 40, cluster: 3, labels: [] }, { address: null, value_sats: 0, cluster: null, labels: [] }],
    });
    expect(nodes.map((n) => n.id)).toEqual([`tx:${"ab".repeat(32)}`, "address:bcrt1qin", "address:bcrt1qout"]);
    expect(nodes[2].label).toBe("shop · cluster 4");
    expect(edges.map((e) => `${e.source}>${e.target}:${e.valueSats}`).sort()).toEqual([
      `address:bcrt1qin>tx:${"ab".repeat(32)}:110`,
      `tx:${"ab".repeat(32)}>address:bcrt1qin:40`,
      `tx:${"ab".repeat(32)}>address:bcrt1qout:60`,
    ]);
  });

  it("transaction rows give received and sent edges", () => {
    const { edges } = txRowElements("address:x", [{ txid: "t1", height: 1, time: null, received_sats: 5, sent_sats: 0 }, { txid: "t2", height: 2, time: null, received_sats: 0, sent_sats: 7 }]);
    expect(edges.map((e) => `${e.source}>${e.target}`)).toEqual(["tx:t1>address:x", "address:x>tx:t2"]);
  });

  it("a trace draws the seed cluster as the traced node and sums flows per pair", () => {
    const res = {
      seeds: [772],
      nodes: [{ node: 772, size: 1, label: null, category: null, entity: null }, { node: 156, size: 1, label: null, category: null, entity: null }, { node: 44, size: 2096, label: "exchange-gamma", category: "exchange", entity: "exchange-gamma" }],
      edges: [
        { src: 156, dst: 772, txid: "t1", time: "2025-03-01T15:38:23Z", value_sats: 100, hop: 1 },
        { src: 44, dst: 156, txid: "t2", time: "2025-03-01T15:08:22Z", value_sats: 30, hop: 2 },
        { src: 44, dst: 156, txid: "t3", time: "2025-03-01T15:35:00Z", value_sats: 20, hop: 2 },
      ],
      endpoints: [{ node: 44, label: "exchange-gamma", category: "exchange", kind: "stop", value_sats: 50, txid: "t2" }],
      seed_value_sats: 100,
    };
    const { nodes, edges, trace } = traceElements("cluster:1051", res, { direction: "back", hops: 3, policy: "haircut", stopAt: ["exchange"] });
    expect(nodes.map((n) => n.id).sort()).toEqual(["cluster:156", "cluster:44"]);
    const e = edges.find((x) => x.source === "cluster:44")!;
    expect(e).toMatchObject({ kind: "trace", target: "cluster:156", valueSats: 50, txCount: 2, firstTime: "2025-03-01T15:08:22Z", lastTime: "2025-03-01T15:35:00Z", hop: 2 });
    expect(edges.find((x) => x.source === "cluster:156")?.target).toBe("cluster:1051");
    expect(trace.endpoints[0]).toMatchObject({ node: "cluster:44", kind: "stop", valueSats: 50 });
  });

  it("a lead gives customer → service and funding → customer", () => {
    const { nodes, edges } = leadElements(1051, { customer_group: "1", customer_cluster: "772", amount_sats: "854064", payment_time: "2025-03-01T15:50:17Z", funding_entity: "exchange-gamma", funding_category: "exchange", funding_cluster: "74", funding_amount_sats: "2417966", payer_addresses: "bcrt1qa;bcrt1qb" });
    expect(nodes.map((n) => [n.id, n.label])).toEqual([["cluster:772", "customer 1"], ["cluster:74", "exchange-gamma"]]);
    expect(nodes[0].seedAddress).toBe("bcrt1qa");
    expect(edges.map((e) => `${e.source}>${e.target}:${e.valueSats}`)).toEqual(["cluster:772>cluster:1051:854064", "cluster:74>cluster:772:2417966"]);
  });
});
