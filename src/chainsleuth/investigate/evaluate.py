"""Score a case directory against ground truth (``chainsleuth eval investigation``).

Truth layouts read: the regtest economy (``service_customers.csv``, ``transactions.csv``,
``wallets.csv``) and the simulator's (``service_payments.csv``, ``txs.csv``,
``entities.csv``). The investigated service is the truth service whose payments overlap the
leads most.

Scores: customer payments found (recall, precision by payment txid); customers found (by
wallet: the payer of each lead's payment txid per the truth senders); **false merges** — lead
clusters whose payments come from two or more true customers; **funding exchange correct** —
share of true customers with a home exchange whose value-weighted majority ``funding_entity``
is that exchange; and, when the payment directly spends a withdrawal of an exchange (needs the
dataset), the share of such payments whose lead names that exchange, and that withdrawal txid.

>>> # evaluate_investigation(Path("case"), Path("truth")).payment_recall -> 1.0
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import ItemsView
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from chainsleuth.errors import InputError

__all__ = ["InvestigationScore", "evaluate_investigation"]


@dataclass(frozen=True, slots=True)
class InvestigationScore:
    """The scores of one case against the truth (see the module docstring)."""

    service: str
    n_true_payments: int
    n_lead_payments: int
    payment_recall: float
    payment_precision: float
    n_true_customers: int
    n_lead_customers: int
    customer_recall: float
    customer_precision: float
    false_merges: int
    n_customers_with_home_exchange: int
    funding_exchange_correct: float
    n_direct_withdrawals: int
    direct_withdrawal_entity_correct: float
    direct_withdrawal_txid_correct: float
    direct_withdrawal_entry_txid_correct: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The scores as a plain dict (for ``--json``).

        >>> InvestigationScore("s", 1, 1, 1.0, 1.0, 1, 1, 1.0, 1.0, 0, 1, 1.0, 0, 0.0,
        ...                    0.0).as_dict()["false_merges"]
        0
        """
        return asdict(self)

    def items(self) -> ItemsView[str, Any]:
        """(name, value) pairs, as of a dict.

        >>> len(InvestigationScore("s", 1, 1, 1.0, 1.0, 1, 1, 1.0, 1.0, 0, 1, 1.0, 0, 0.0,
        ...                        0.0).items())
        16
        """
        return self.as_dict().items()


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _first(truth: Path, *names: str) -> Path:
    for name in names:
        if (truth / name).is_file():
            return truth / name
    raise InputError(f"truth directory lacks {' or '.join(names)}: {truth}")


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _direct_withdrawals(
    data: Path, txids: list[str], kinds: dict[str, tuple[str, str]]
) -> dict[str, tuple[str, set[str]]]:
    """Payment txid → (exchange, withdrawal txids) for payments spending a withdrawal output."""
    from chainsleuth.store.dataset import Dataset

    with Dataset.open(data) as ds:
        rows = ds.sql(
            "SELECT t.txid, p.txid FROM inputs i JOIN txs t ON t.tx_id = i.tx_id "
            "JOIN outputs o ON o.out_id = i.out_id JOIN txs p ON p.tx_id = o.tx_id "
            "WHERE lower(hex(t.txid)) IN (SELECT unnest(?))",
            [txids],
        ).fetchall()
    out: dict[str, tuple[str, set[str]]] = {}
    for pay, prev in rows:
        prev_hex = bytes(prev).hex()
        kind, senders = kinds.get(prev_hex, ("", ""))
        if kind == "withdrawal" and senders:
            entry = out.setdefault(bytes(pay).hex(), (senders.split(";")[0], set()))
            entry[1].add(prev_hex)
    return out


def evaluate_investigation(
    case_dir: Path | str, truth_dir: Path | str, data: Path | str | None = None
) -> InvestigationScore:
    """Score ``case_dir`` (leads.csv, case.json) against ``truth_dir``; ``data`` is the dataset
    (default: the one recorded in case.json, when it still exists).

    >>> # evaluate_investigation("case", "tests/data/regtest-core-a/truth").customer_recall
    """
    case = Path(case_dir)
    truth = Path(truth_dir)
    if not (case / "leads.csv").is_file():
        raise InputError(f"not a case directory (no leads.csv): {case}")
    leads = _rows(case / "leads.csv")
    pays = _rows(_first(truth, "service_customers.csv", "service_payments.csv"))
    txs = _rows(_first(truth, "transactions.csv", "txs.csv"))
    owners = _rows(_first(truth, "wallets.csv", "entities.csv"))
    kinds = {r["txid"]: (r.get("kind", ""), r.get("senders", "")) for r in txs}
    home = {(r.get("wallet") or r.get("name") or ""): r.get("home_exchange", "") for r in owners}
    lead_tx = {r["payment_txid"] for r in leads}
    by_service: dict[str, dict[str, str]] = defaultdict(dict)
    for r in pays:
        by_service[r["service"]][r["txid"]] = r["customer"]
    if not by_service:
        raise InputError(f"truth lists no service payments: {truth}")
    service = max(by_service, key=lambda s: len(lead_tx & set(by_service[s])))
    true_pay = by_service[service]
    hit = lead_tx & set(true_pay)
    payer = {t: kinds.get(t, ("", ""))[1].split(";")[0] for t in lead_tx}
    lead_wallets = {true_pay.get(t) or payer[t] for t in lead_tx}
    true_wallets = set(true_pay.values())
    per_cluster: dict[str, set[str]] = defaultdict(set)
    funded: dict[str, Counter[str]] = defaultdict(Counter)
    for r in leads:
        wallet = true_pay.get(r["payment_txid"])
        if wallet is None:
            continue
        per_cluster[r["customer_cluster"]].add(wallet)
        if r["funding_entity"]:
            amount = float(r.get("funding_amount_sats") or 0) or 1.0
            funded[wallet][r["funding_entity"]] += int(amount)
    with_home = [w for w in true_wallets if home.get(w)]
    correct = sum(1 for w in with_home if funded[w] and funded[w].most_common(1)[0][0] == home[w])
    data_path = Path(data) if data is not None else None
    if data_path is None and (case / "case.json").is_file():
        recorded = json.loads((case / "case.json").read_text()).get("dataset", {}).get("path")
        if recorded and (Path(recorded) / "manifest.json").is_file():
            data_path = Path(recorded)
    direct: dict[str, tuple[str, set[str]]] = {}
    if data_path is not None:
        direct = _direct_withdrawals(data_path, sorted(true_pay), kinds)
    by_tx = {r["payment_txid"]: r for r in leads}
    ent_ok = sum(1 for t, (ex, _) in direct.items() if by_tx.get(t, {}).get("funding_entity") == ex)
    txid_ok = sum(1 for t, (_, w) in direct.items() if by_tx.get(t, {}).get("funding_txid") in w)
    entry_ok = sum(
        1 for t, (_, w) in direct.items() if by_tx.get(t, {}).get("customer_entry_txid") in w
    )
    return InvestigationScore(
        service=service,
        n_true_payments=len(true_pay),
        n_lead_payments=len(lead_tx),
        payment_recall=_ratio(len(hit), len(true_pay)),
        payment_precision=_ratio(len(hit), len(lead_tx)),
        n_true_customers=len(true_wallets),
        n_lead_customers=len(lead_wallets),
        customer_recall=_ratio(len(lead_wallets & true_wallets), len(true_wallets)),
        customer_precision=_ratio(len(lead_wallets & true_wallets), len(lead_wallets)),
        false_merges=sum(1 for ws in per_cluster.values() if len(ws) > 1),
        n_customers_with_home_exchange=len(with_home),
        funding_exchange_correct=_ratio(correct, len(with_home)),
        n_direct_withdrawals=len(direct),
        direct_withdrawal_entity_correct=_ratio(ent_ok, len(direct)),
        direct_withdrawal_txid_correct=_ratio(txid_ok, len(direct)),
        direct_withdrawal_entry_txid_correct=_ratio(entry_ok, len(direct)),
    )
