"""``investigate service`` from one seed address on the real regtest economy, scored against its
ground truth; the case files' evidence checked against the dataset."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from chainsleuth.cluster.runs import load_address_cluster
from chainsleuth.investigate.case import LEAD_COLUMNS, REQUEST_COLUMNS
from chainsleuth.investigate.evaluate import evaluate_investigation
from chainsleuth.store.dataset import Dataset

CliRun = Callable[..., tuple[int, str, str]]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def seed(regtest_truth: Path) -> str:
    """One deposit address of the service, as a test purchase would reveal."""
    return _rows(regtest_truth / "service_customers.csv")[100]["deposit_address"]


@pytest.fixture(scope="module")
def case_dir(case_dataset: Path, seed: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from chainsleuth.cli import main

    out = tmp_path_factory.mktemp("case") / "case"
    code = main(["investigate", "service", "--data", str(case_dataset), "--seed", seed,
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    return out


def test_customers_found(case_dir: Path, regtest_truth: Path) -> None:
    score = evaluate_investigation(case_dir, regtest_truth)
    assert score.n_true_payments == 977
    assert score.payment_recall >= 0.99
    assert score.payment_precision >= 0.99
    assert score.n_true_customers == 24
    assert score.customer_recall >= 0.99
    assert score.customer_precision >= 0.99
    assert score.false_merges == 0


def test_funding_exchange(case_dir: Path, regtest_truth: Path) -> None:
    score = evaluate_investigation(case_dir, regtest_truth)
    # every customer's main funding source is its home exchange
    assert score.n_customers_with_home_exchange == 24
    assert score.funding_exchange_correct == 1.0
    # payments that spend a withdrawal directly: the lead names that exchange
    assert score.n_direct_withdrawals == 344
    assert score.direct_withdrawal_entity_correct >= 0.8


def test_leads_columns_and_values(case_dir: Path, regtest_truth: Path) -> None:
    leads = _rows(case_dir / "leads.csv")
    assert tuple(leads[0]) == LEAD_COLUMNS
    truth = {r["txid"]: r for r in _rows(regtest_truth / "service_customers.csv")}
    for lead in leads:
        row = truth[lead["payment_txid"]]
        assert lead["service_address"] == row["deposit_address"]
        assert int(lead["amount_sats"]) == round(float(row["amount_btc"]) * 1e8)
        if lead["funding_entity"]:
            assert lead["funding_category"] == "exchange"
            assert 0 <= float(lead["confidence"]) <= 1
            assert float(lead["funding_amount_sats"]) > 0
            assert int(lead["funding_hops"]) >= 1


def test_evidence_connects_the_clusters(case_dir: Path, case_dataset: Path) -> None:
    leads = _rows(case_dir / "leads.csv")
    case = json.loads((case_dir / "case.json").read_text())
    service = set(case["service"]["clusters"])
    with Dataset.open(case_dataset) as ds:
        cluster = load_address_cluster(ds, case["clustering_run"]["name"])
        ins: dict[str, set[int]] = {}
        outs: dict[str, set[int]] = {}
        for txid, addr in ds.sql(
            "SELECT t.txid, i.addr_id FROM inputs i JOIN txs t USING (tx_id) "
            "WHERE i.addr_id IS NOT NULL"
        ).fetchall():
            ins.setdefault(bytes(txid).hex(), set()).add(int(cluster[addr]))
        for txid, addr in ds.sql(
            "SELECT t.txid, o.addr_id FROM outputs o JOIN txs t USING (tx_id) "
            "WHERE o.addr_id IS NOT NULL"
        ).fetchall():
            outs.setdefault(bytes(txid).hex(), set()).add(int(cluster[addr]))
        service_addr = {r["service_address"]: ds.addr_id(r["service_address"]) for r in leads}

    def norm(nodes: set[int]) -> set[int]:
        return {min(service) if n in service else n for n in nodes}

    checked = 0
    for lead in leads:
        chain = lead["evidence_txids"].split(";")
        assert chain[-1] == lead["payment_txid"]
        assert all(t in ins for t in chain)
        customer = int(lead["customer_cluster"])
        assert customer in ins[lead["payment_txid"]]
        assert int(cluster[service_addr[lead["service_address"]]]) in service
        if not lead["funding_entity"]:
            continue
        assert chain[0] == lead["funding_txid"]
        assert int(lead["funding_cluster"]) in ins[chain[0]]
        for a, b in itertools.pairwise(chain):
            assert norm(outs[a]) & norm(ins[b]), (a, b)
        checked += 1
    assert checked > 800


def test_case_json(case_dir: Path, case_dataset: Path, seed: str) -> None:
    case = json.loads((case_dir / "case.json").read_text())
    with Dataset.open(case_dataset) as ds:
        assert case["dataset"]["manifest_sha256"] == ds.manifest_sha256
        assert case["dataset"]["tip_height"] == ds.tip_height == 473
        assert case["dataset"]["tip_hash"] == ds.tip_hash
    assert case["seeds"] == [seed]
    assert case["clustering_run"]["name"] == "default"
    assert case["tag_packs"] == ["exchange-1 test deposits", "exchange-2 deposits"]
    assert case["service"]["profile"]["n_addresses"] == 1016
    assert case["service"]["profile"]["n_payments"] == 977
    kinds = {f["kind"] for f in case["findings"]}
    assert {"service-cluster", "customer-payment"} <= kinds
    assert all(f["evidence_txids"] for f in case["findings"])
    assert {c["entity"] for c in case["cashouts"]} == {"exchange-1", "exchange-2"}
    assert case["clustering_run"]["params"]["tip_height"] == 473


def test_service_wallet_is_the_service(
    case_dir: Path, case_dataset: Path, regtest_truth: Path
) -> None:
    case = json.loads((case_dir / "case.json").read_text())
    owner = {r["address"]: r["wallet"] for r in _rows(regtest_truth / "addresses.csv")}
    with Dataset.open(case_dataset) as ds:
        cluster = load_address_cluster(ds, "default")
        members = np.flatnonzero(np.isin(cluster, case["service"]["clusters"]))
        addresses = ds.sql(
            "SELECT address FROM addresses WHERE addr_id IN (SELECT unnest(?))",
            [members.tolist()],
        ).fetchall()
    wallets = {owner[a] for (a,) in addresses}
    assert wallets == {"service"}
    assert len(addresses) == sum(1 for w in owner.values() if w == "service")


def test_requests(case_dir: Path) -> None:
    requests = _rows(case_dir / "requests.csv")
    assert tuple(requests[0]) == REQUEST_COLUMNS
    leads = {
        (r["funding_txid"], r["funding_vout"], r["funding_address"]): r
        for r in _rows(case_dir / "leads.csv")
    }
    assert {r["entity"] for r in requests} == {"exchange-1", "exchange-2"}
    customers = [r for r in requests if r["subject"] == "customer-withdrawal"]
    # one row per withdrawal output, pointing at the output the leads name
    assert customers and all((r["txid"], r["vout"], r["address"]) in leads for r in customers)
    assert len({(r["txid"], r["vout"]) for r in customers}) == len(customers)
    assert all(r["address"] and int(r["amount_sats"]) > 0 for r in requests)
    assert any(r["subject"] == "service-cashout" for r in requests)


def test_cli_eval(case_dir: Path, regtest_truth: Path, cli_run: CliRun) -> None:
    code, out, err = cli_run(
        "eval", "investigation", "--case", str(case_dir), "--truth", str(regtest_truth), "--json"
    )
    assert code == 0, err
    assert json.loads(out)["payment_recall"] >= 0.99
    code, out, _ = cli_run(
        "eval", "investigation", "--case", str(case_dir), "--truth", str(regtest_truth)
    )
    assert code == 0 and "customer recall" in out


def test_cli_errors(
    case_dataset: Path, tmp_path: Path, regtest_truth: Path, cli_run: CliRun
) -> None:
    code, _, err = cli_run(
        "investigate", "service", "--data", str(case_dataset), "--seed", "bcrt1qnotanaddress",
        "--out", str(tmp_path / "c"),
    )  # fmt: skip
    assert code == 2 and "bcrt1qnotanaddress" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli_run(
        "eval", "investigation", "--case", str(tmp_path), "--truth", str(regtest_truth)
    )
    assert code == 2 and "leads.csv" in err
