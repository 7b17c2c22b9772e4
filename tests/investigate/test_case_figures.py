"""The case tells the truth: customers as wallets, income and cash-outs that match the ground
truth of the real-Core-wallet regtest chain, totals that equal the sums of their rows, payer
addresses an exchange can act on, and refusals for seeds that are not a service's."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from chainsleuth.cli import main
from chainsleuth.investigate.evaluate import evaluate_investigation
from chainsleuth.store.dataset import Dataset


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def case(case_dataset: Path, regtest_truth: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    seed = _rows(regtest_truth / "service_customers.csv")[100]["deposit_address"]
    out = tmp_path_factory.mktemp("figures") / "case"
    code = main(["investigate", "service", "--data", str(case_dataset), "--seed", seed,
                 "--out", str(out)])  # fmt: skip
    assert code == 0
    return out


def test_income_is_customer_payments_only(case: Path, regtest_truth: Path) -> None:
    truth = sum(
        round(float(r["amount_btc"]) * 100_000_000)
        for r in _rows(regtest_truth / "service_customers.csv")
    )
    doc = json.loads((case / "case.json").read_text())
    summary = doc["summary"]
    assert summary["income_sats"] == truth == 1_821_915_624
    # the service's own sweeps and peel change are shown apart, never as income
    profile = doc["service"]["profile"]
    assert summary["self_transfers_sats"] > summary["income_sats"]
    assert (
        summary["income_sats"] + summary["self_transfers_sats"] + summary["other_received_sats"]
        == profile["total_received_sats"]
    )


def test_cashouts_match_the_services_own_deposits(
    case: Path, case_dataset: Path, regtest_truth: Path
) -> None:
    kinds = {r["txid"]: r for r in _rows(regtest_truth / "transactions.csv")}
    owner = {r["address"]: r["wallet"] for r in _rows(regtest_truth / "addresses.csv")}
    own = [t for t, r in kinds.items() if r["senders"] == "service"]
    with Dataset.open(case_dataset) as ds:
        rows = ds.sql(
            "SELECT lower(hex(t.txid)), o.vout, a.address, o.value FROM outputs o "
            "JOIN txs t USING (tx_id) JOIN addresses a USING (addr_id) "
            "WHERE lower(hex(t.txid)) IN (SELECT unnest(?))",
            [own],
        ).fetchall()
    truth = {(t, int(v), a, int(x)) for t, v, a, x in rows if owner[a].startswith("exchange")}
    doc = json.loads((case / "case.json").read_text())
    found = {(c["txid"], c["vout"], c["address"], c["amount_sats"]) for c in doc["cashouts"]}
    assert found == truth  # every output, exactly: txid:vout, address and amount
    per_entity: dict[str, int] = defaultdict(int)
    for c in doc["cashouts"]:
        assert owner[c["address"]] == c["entity"]
        per_entity[c["entity"]] += c["amount_sats"]
    assert per_entity == doc["summary"]["cashout_sats_by_entity"]
    assert sum(per_entity.values()) == doc["summary"]["cashout_sats"]


def test_summary_adds_up_from_rows(case: Path) -> None:
    doc = json.loads((case / "case.json").read_text())
    leads = _rows(case / "leads.csv")
    summary = doc["summary"]
    assert summary["payments"] == len(leads)
    assert summary["income_sats"] == sum(int(r["amount_sats"]) for r in leads)
    assert summary["customers"] == len({r["customer_group"] for r in leads})
    assert summary["customers"] == len(doc["customer_groups"])
    assert summary["customer_clusters"] == len({r["customer_cluster"] for r in leads})
    assert summary["funded_payments"] == sum(1 for r in leads if r["funding_entity"])
    assert summary["other_outflow_sats"] == sum(o["amount_sats"] for o in doc["outflows"])
    groups = {g["group"]: g for g in doc["customer_groups"]}
    for group, g in groups.items():
        mine = [r for r in leads if int(r["customer_group"]) == group]
        assert g["n_payments"] == len(mine)
        assert g["amount_sats"] == sum(int(r["amount_sats"]) for r in mine)
        assert set(g["clusters"]) == {int(r["customer_cluster"]) for r in mine}


def test_customers_are_wallets(case: Path, regtest_truth: Path) -> None:
    score = evaluate_investigation(case, regtest_truth)
    assert score.payment_recall == score.payment_precision == 1.0
    assert score.false_group_merges == 0
    # 627 clusters for 24 customers before; the grouping is measured in docs/case-files.md
    assert score.clusters_per_customer_mean > 20
    assert score.groups_per_customer_mean <= 3.1
    assert score.n_lead_groups <= 75
    assert score.income_error == 0.0
    assert score.cashout_error_by_entity == {"exchange-1": 0.0, "exchange-2": 0.0}


def test_group_evidence_is_shown(case: Path) -> None:
    doc = json.loads((case / "case.json").read_text())
    txids = set()
    for g in doc["customer_groups"]:
        if len(g["clusters"]) > 1:
            assert g["evidence"], g["group"]
        for e in g["evidence"]:
            assert e["rule"] in {
                "payment-change", "change", "shared-deposit-address", "reused-order-address"
            }  # fmt: skip
            assert 0 < e["confidence"] <= 1 and len(e["txid"]) == 64
            txids.add(e["txid"])
        assert g["confidence"] == min((e["confidence"] for e in g["evidence"]), default=1.0)
    assert txids


def test_leads_name_payer_and_withdrawal_addresses(
    case: Path, case_dataset: Path, regtest_truth: Path
) -> None:
    leads = _rows(case / "leads.csv")
    owner = {r["address"]: r["wallet"] for r in _rows(regtest_truth / "addresses.csv")}
    payer = {r["txid"]: r["customer"] for r in _rows(regtest_truth / "service_customers.csv")}
    with Dataset.open(case_dataset) as ds:
        for r in leads:
            addrs = r["payer_addresses"].split(";")
            assert addrs and all(owner[a] == payer[r["payment_txid"]] for a in addrs)
            if not r["funding_address"]:
                continue
            row = ds.sql(
                "SELECT a.address, o.value FROM outputs o JOIN txs t USING (tx_id) "
                "JOIN addresses a USING (addr_id) WHERE lower(hex(t.txid)) = ? AND o.vout = ?",
                [r["funding_txid"], int(r["funding_vout"])],
            ).fetchone()
            assert row == (r["funding_address"], int(r["funding_output_sats"]))
    share = sum(1 for r in leads if r["funding_address"]) / len(leads)
    assert share > 0.6


def test_exchange_seed_is_refused(
    case_dataset: Path, regtest_truth: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = next(
        r["address"] for r in _rows(regtest_truth / "addresses.csv")
        if r["wallet"] == "exchange-1" and r["role"] == "exchange"
    )  # fmt: skip
    code = main(["investigate", "service", "--data", str(case_dataset), "--seed", seed,
                 "--out", str(tmp_path / "c")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert seed in err and "exchange-1" in err
    assert not (tmp_path / "c").exists()


def test_user_seed_is_refused_before_it_eats_the_chain(
    case_dataset: Path,
    regtest_truth: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # an ordinary user's address: its "wallet" would grow over half of the chain
    seed = "bcrt1qr66f35zltvhednfj5rt959rvjksqe9tqkvz074"
    assert {r["address"]: r["wallet"] for r in _rows(regtest_truth / "addresses.csv")}[
        seed
    ] == "user-002"
    # no expansion step ever reads a wallet already past the bound (a giant cluster that
    # joined is refused before the next step walks its transactions)
    import chainsleuth.investigate.expand as expand

    bounds: list[int] = []
    sizes: list[int] = []
    check = expand._check_size

    def spy_check(graph: Any, wallet: Any, bound: int | None) -> None:
        bounds.append(int(bound or 0))
        check(graph, wallet, bound)

    def spying(step: Any) -> Any:
        def run(graph: Any, *args: Any) -> None:
            wallet = args[-1]
            sizes.append(int(graph.node_size[sorted(wallet.nodes)].sum()))
            step(graph, *args)

        return run

    monkeypatch.setattr(expand, "_check_size", spy_check)
    for name in ("_join_cashout_payers", "_join_sweep_inputs", "_join_peel_sources"):
        monkeypatch.setattr(expand, name, spying(getattr(expand, name)))
    code = main(["investigate", "service", "--data", str(case_dataset), "--seed", seed,
                 "--out", str(tmp_path / "c")])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "past the bound" in err and "--max-service-share" in err
    assert sizes and max(sizes) <= max(bounds)
