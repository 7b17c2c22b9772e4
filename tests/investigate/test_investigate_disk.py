"""The investigation from disk: it never loads the whole chain as a view, and it writes the same
case as the reference (the golden digest of the regtest case, tests/golden)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from chainsleuth.budget import MemoryBudget
from chainsleuth.investigate.case import write_case
from chainsleuth.investigate.chain import CaseChain
from chainsleuth.investigate.merge import merge_nodes
from chainsleuth.investigate.service import investigate_service
from chainsleuth.store.dataset import Dataset
from chainsleuth.trace.flowgraph import FlowGraph, build_flow_graph

SEED = "bcrt1qmly6wxw3mvegvr0z7c3c8h0rp3lgvvmy2kyeh8"


def _no_view(*_a: object, **_k: object) -> None:
    raise AssertionError("the investigation loaded the whole chain view")


def _rows(case: Path) -> dict[str, str]:
    import json

    doc = json.loads((case / "case.json").read_text())
    doc.pop("created")
    doc.pop("dataset")
    return {
        "leads": (case / "leads.csv").read_text(),
        "requests": (case / "requests.csv").read_text(),
        "case": json.dumps(doc, sort_keys=True),
    }


def test_investigation_never_loads_the_chain_view(
    case_dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a tiny memory budget and ``load_chain_view`` refused everywhere, the case is the
    one a run with the default budget writes."""
    with Dataset.open(case_dataset) as ds:
        ref = write_case(ds, investigate_service(ds, [SEED]), tmp_path / "ref")
    import sys

    import chainsleuth.store.chainview as chainview

    original = chainview.load_chain_view
    for module in list(sys.modules.values()):
        if getattr(module, "load_chain_view", None) is original:
            monkeypatch.setattr(module, "load_chain_view", _no_view)
    monkeypatch.setenv("CHAINSLEUTH_MEMORY_LIMIT", "64MiB")
    # the persisted graphs are rebuilt within the small budget, without a view
    for folder in (case_dataset / "derived").rglob("flowgraph"):
        if folder.is_dir():
            import shutil

            shutil.rmtree(folder)
    with Dataset.open(case_dataset) as ds:
        MemoryBudget.from_option("64MiB").apply(ds.con, ds.path)
        inv = investigate_service(ds, [SEED])
        got = write_case(ds, inv, tmp_path / "disk")
    assert type(inv.graph.in_node).__name__ == "memmap"
    assert _rows(got) == _rows(ref)
    leftovers = list((case_dataset / "_tmp").glob("casegraph-*"))
    assert leftovers == []


def test_merged_graph_equals_the_graph_of_the_merged_mapping(case_dataset: Path) -> None:
    """merge_nodes gives the arrays FlowGraph.from_view builds from the merged mapping."""
    from chainsleuth.store.chainview import load_chain_view

    with Dataset.open(case_dataset) as ds:
        graph = build_flow_graph(ds)
        view = load_chain_view(ds)
        members = [92, 5, 17, 300]
        service = 5
        assert graph.n_node > max(members) + 1  # from_view keeps n_node then
        mapping = np.asarray(graph.node_of_addr).copy()
        mapping[np.isin(mapping, members)] = service
        ref = FlowGraph.from_view(view, mapping)
        got = merge_nodes(graph, members, service, Path(ds.path) / "_tmp" / "merge-test")
    for name in (
        "in_node", "out_node", "in_cum", "out_cum", "node_recv_start", "node_recv",
        "node_spend_start", "node_spend", "node_total_in", "node_total_out", "node_size",
    ):  # fmt: skip
        assert np.array_equal(np.asarray(getattr(got, name)), getattr(ref, name)), name


def test_case_chain_reads_what_the_view_holds(case_dataset: Path) -> None:
    """Addresses, spent outputs and a sub-view from disk equal the whole view's."""
    from chainsleuth.store.chainview import load_chain_view

    with Dataset.open(case_dataset) as ds:
        graph = build_flow_graph(ds)
        chain = CaseChain.open(ds, graph)
        view = load_chain_view(ds)
        ins = np.arange(0, view.n_in, 7, dtype=np.int64)
        outs = np.arange(0, view.n_out, 5, dtype=np.int64)
        assert np.array_equal(chain.in_addr(ins), view.in_addr[ins])
        assert np.array_equal(chain.out_addr(outs), view.out_addr[outs])
        assert np.array_equal(chain.spent_output(ins), view.in_prev_out[ins])
        txs = np.array([0, 3, 200, 1000, view.n_tx - 1], dtype=np.int64)
        sub, out_entry = chain.sub_view(txs)
        ref, ref_out = CaseChain.from_view(graph, view).sub_view(txs)
        assert np.array_equal(out_entry, ref_out)
        for name in ("version", "locktime", "in_value", "in_type", "in_sequence", "out_type",
                     "out_value", "in_addr", "out_addr", "in_start", "out_start"):  # fmt: skip
            assert np.array_equal(getattr(sub, name), getattr(ref, name)), name
