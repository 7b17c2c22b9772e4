"""The flow graph, the hop kernels and the trace verb on the real regtest chain."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from chainsleuth.store.chainview import load_chain_view
from chainsleuth.store.dataset import Dataset
from chainsleuth.trace.engine import Seed, trace
from chainsleuth.trace.exposure import exposure
from chainsleuth.trace.flowgraph import FlowGraph, build_flow_graph
from chainsleuth.trace.kernels import hop_back, hop_forward
from chainsleuth.trace.labels import load_node_labels
from chainsleuth.trace.policies import FIFO, HAIRCUT, POISON

CliRun = Callable[..., tuple[int, str, str]]
DATA = Path(__file__).resolve().parents[1] / "data"
PACKS = [
    DATA / "tagpacks" / "exchange-1-deposits.yaml",
    DATA / "tagpacks" / "exchange-2-deposits.yaml",
]
SERVICE_SEED = "bcrt1qrlz3a8k2dar5uy50thgrhjjrdyjrcmp6pwmstv"


@pytest.fixture(scope="module")
def case_dataset(regtest_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the regtest dataset, clustered, with the exchange tag packs."""
    from chainsleuth.cluster.run import cluster_dataset
    from chainsleuth.store.dataset import Dataset
    from chainsleuth.tags.store import import_tag_files

    path = tmp_path_factory.mktemp("trace") / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    with Dataset.open(path) as ds:
        cluster_dataset(ds, "default")
        import_tag_files(ds, PACKS)
    return path


@pytest.fixture(scope="module")
def graph(case_dataset: Path) -> FlowGraph:
    with Dataset.open(case_dataset) as ds:
        return build_flow_graph(ds)


def test_graph_matches_dataset(case_dataset: Path, graph: FlowGraph) -> None:
    with Dataset.open(case_dataset) as ds:
        rows = ds.sql(
            "SELECT in_value, out_value, is_coinbase FROM txs ORDER BY tx_id"
        ).fetchnumpy()
        n_addr = ds.sql("SELECT count(*) FROM addresses").fetchone()
    assert graph.n_tx == 3981
    coinbase = np.asarray(rows["is_coinbase"], dtype=bool)
    in_value = np.asarray(rows["in_value"], dtype=np.int64)
    assert np.array_equal(graph.tx_in_total[~coinbase], in_value[~coinbase])
    assert np.array_equal(graph.tx_out_total, np.asarray(rows["out_value"], dtype=np.int64))
    assert n_addr is not None and int(graph.node_size.sum()) == int(n_addr[0])
    # per node, receipts and spends in chain order and queue offsets consistent
    out_tx = graph.out_tx()
    for node in range(0, graph.n_node, 97):
        recv = graph.receipts_of(node)
        assert np.all(np.diff(out_tx[recv]) >= 0)
        expect = np.concatenate([[0], np.cumsum(graph.out_value[recv])[:-1]]) if len(recv) else []
        assert graph.out_cum[recv].tolist() == list(expect)
    # a node never spends more than it received before (FIFO relies on it)
    assert np.all(graph.node_total_out <= graph.node_total_in)


def _hop_args(graph: FlowGraph, back: bool, policy: int, seeds: np.ndarray) -> tuple[object, ...]:
    tx = np.full(len(seeds), graph.n_tx if back else -1, dtype=np.int64)
    value = graph.node_total_in[seeds].astype(np.float64)
    lo = np.zeros(len(seeds))
    if back:
        return (
            policy, seeds, tx, value, lo, 0, graph.n_tx - 1, 1000.0, graph.is_coinbase,
            graph.tx_in_start, graph.tx_in_total, graph.in_node, graph.in_value,
            graph.node_spend_start, graph.node_spend, graph.spend_ckpt, graph.tx_out_start,
            graph.out_value, graph.node_recv_start, graph.node_recv, graph.recv_ckpt,
            graph.out_tx(), 1 << 16,
        )  # fmt: skip
    return (
        policy, seeds, tx, value, lo, 0, graph.n_tx - 1, 1000.0, graph.node_total_out,
        graph.tx_out_start, graph.tx_in_total, graph.tx_out_total, graph.out_node,
        graph.out_value, graph.node_recv_start, graph.node_recv, graph.recv_ckpt,
        graph.tx_in_start, graph.in_value, graph.node_spend_start, graph.node_spend,
        graph.spend_ckpt, graph.in_tx(), 1 << 16,
    )  # fmt: skip


@pytest.mark.parametrize("policy", [POISON, HAIRCUT, FIFO])
@pytest.mark.parametrize("back", [True, False])
def test_kernels_equal_python_twins(graph: FlowGraph, policy: int, back: bool) -> None:
    seeds = np.unique(graph.node_of_addr[::37])[:300]
    kernel = hop_back if back else hop_forward
    args = _hop_args(graph, back, policy, seeds)
    fast = kernel(*args)
    slow = kernel.py_func(*args)
    assert fast[11] == slow[11] and fast[12] == slow[12] and fast[11] > 0
    assert fast[13] == pytest.approx(slow[13])
    nn, ne = fast[11], fast[12]
    for i in range(6):
        assert np.allclose(fast[i][:nn], slow[i][:nn])
    for i in range(6, 11):
        assert np.allclose(fast[i][:ne], slow[i][:ne])


def test_trace_conserves_value(graph: FlowGraph) -> None:
    seeds = [Seed(int(n)) for n in np.unique(graph.node_of_addr[::211])[:40]]
    for policy in ("haircut", "fifo"):
        r = trace(graph, seeds, hops=4, policy=policy, min_value=0, stop_categories=())
        total = sum(float(graph.node_total_in[s.node]) for s in seeds)
        assert sum(e.value for e in r.endpoints()) == pytest.approx(total, rel=1e-9)


def test_fifo_matches_utxo_when_address_spends_once(case_dataset: Path) -> None:
    """At address level, an address received once and spent once: FIFO back over one hop
    gives exactly the inputs of the funding transaction in vin order (real data check)."""
    with Dataset.open(case_dataset) as ds:
        view = load_chain_view(ds)
        g = build_flow_graph(ds, level="address", view=view)
    counts_in = np.diff(g.node_recv_start)
    counts_out = np.diff(g.node_spend_start)
    once = np.flatnonzero((counts_in == 1) & (counts_out == 1))
    out_off, in_off = g.out_off(), g.in_off()
    checked = 0
    for node in once[:200].tolist():
        [o] = g.receipts_of(node).tolist()
        t = int(np.searchsorted(g.tx_out_start, o, side="right")) - 1
        if g.is_coinbase[t]:
            continue
        r = trace(g, [Seed(node)], hops=1, policy="fifo", min_value=0, stop_categories=())
        lo, hi = out_off[o], out_off[o] + g.out_value[o]
        expect: dict[int, float] = {}
        for i in range(g.tx_in_start[t], g.tx_in_start[t + 1]):
            x, y = max(lo, in_off[i]), min(hi, in_off[i] + g.in_value[i])
            if y > x:
                expect[int(g.in_node[i])] = expect.get(int(g.in_node[i]), 0.0) + float(y - x)
        got = {n: v for n, k, v in r.endpoint_totals() if k == "hop-limit"}
        assert got == expect
        checked += 1
    assert checked > 50


def test_back_trace_from_service_reaches_exchanges(case_dataset: Path) -> None:
    with Dataset.open(case_dataset) as ds:
        r = trace(ds, [SERVICE_SEED], hops=4, policy="haircut")
        entities = {r.labels.get(e.node).entity for e in r.endpoints(["stop"])}  # type: ignore[union-attr]
    assert entities <= {"exchange-1", "exchange-2"} and entities


def test_exposure_of_the_service_seed(case_dataset: Path) -> None:
    with Dataset.open(case_dataset) as ds:
        g = build_flow_graph(ds)
        labels = load_node_labels(ds, g)
        node = int(g.node_of_addr[ds.addr_id(SERVICE_SEED)])
        rows = exposure(g, node, hops=4, labels=labels)
    by = {(r.direction, r.scope, r.category): r for r in rows}
    for direction in ("incoming", "outgoing"):
        for scope in ("direct", "within 4 hops"):
            shares = [r.share for r in rows if r.direction == direction and r.scope == scope]
            assert sum(shares) == pytest.approx(1.0)
    # incoming exposure accounts for everything the cluster received
    direct_in = sum(r.value for r in rows if r.direction == "incoming" and r.scope == "direct")
    assert direct_in == pytest.approx(float(g.node_total_in[node]))
    # customers pay the seed's cluster, they are untagged; their coins came from exchanges
    assert ("incoming", "direct", "exchange") not in by
    assert by[("incoming", "within 4 hops", "exchange")].share > 0.0
    cats = {r.category for r in rows}
    assert cats <= {"exchange", "unattributed", "self", "mining", "unspent", "fee"}


def test_cli_trace(case_dataset: Path, cli_run: CliRun) -> None:
    code, out, err = cli_run(
        "trace", "--data", str(case_dataset), SERVICE_SEED, "--hops", "3", "--json"
    )
    assert code == 0, err
    doc = json.loads(out)
    assert doc["parameters"]["policy"] == "haircut"
    assert all(len(e["txid"]) == 64 for e in doc["edges"])
    code, out, err = cli_run("trace", "--data", str(case_dataset), SERVICE_SEED, "--hops", "2")
    assert code == 0 and "endpoints reached" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq"], "bcrt1qqqqq"),
        ([SERVICE_SEED, "--policy", "lifo"], "lifo"),
        ([SERVICE_SEED, "--direction", "up"], "up"),
        ([SERVICE_SEED, "--start", "yesterday"], "yesterday"),
    ],
)
def test_cli_trace_errors(
    case_dataset: Path, cli_run: CliRun, args: list[str], needle: str
) -> None:
    code, _out, err = cli_run("trace", "--data", str(case_dataset), *args)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_truth_file_present(regtest_truth: Path) -> None:
    with open(regtest_truth / "service_customers.csv", newline="") as fh:
        assert next(csv.DictReader(fh))["deposit_address"] == SERVICE_SEED
