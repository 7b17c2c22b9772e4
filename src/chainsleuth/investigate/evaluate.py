"""Score a case directory against ground truth (``chainsleuth eval investigation``).

Truth layouts read: the regtest economy (``service_customers.csv``, ``transactions.csv``,
``wallets.csv``) and the simulator's (``service_payments.csv``, ``txs.csv``,
``entities.csv``). The investigated service is the truth service whose payments overlap the
leads most.

Scores: customer payments found (recall, precision by payment txid); customers found (by
wallet: the payer of each lead's payment txid per the truth senders); **false merges** — lead
clusters whose payments come from two or more true customers; **fragmentation** — lead clusters
and customer groups per true customer (mean, max) and **false group merges** (groups holding
payments of two or more true customers); **funding exchange correct** — share of true customers
with a home exchange whose value-weighted majority ``funding_entity`` is that exchange, and per
payment; the share of leads naming a withdrawal address an exchange can act on; **money** —
income (``summary.income_sats``) against the true payments, and cash-outs per exchange
(``cashouts``) against what the service's own transactions paid to that exchange's addresses
(needs the dataset); and, when the payment directly spends a withdrawal of an exchange, the
share of such payments whose lead names that exchange, and that withdrawal txid.

>>> from chainsleuth.investigate.service import investigate_service
>>> _ = investigate_service(ds, [seed], tmp / "case")
>>> score = evaluate_investigation(tmp / "case", truth)  # truth: regtest-core-a's
>>> score.payment_recall, score.false_group_merges, score.income_error
(1.0, 0, 0.0)
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Callable, ItemsView, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chainsleuth.errors import InputError

if TYPE_CHECKING:
    from chainsleuth.store.dataset import Dataset

__all__ = ["InvestigationScore", "evaluate_investigation"]

_TxidLookup = Callable[["Dataset", Sequence[str]], list[tuple[Any, Any]]]


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
    n_lead_groups: int = 0
    clusters_per_customer_mean: float = 0.0
    clusters_per_customer_max: int = 0
    groups_per_customer_mean: float = 0.0
    groups_per_customer_max: int = 0
    false_group_merges: int = 0
    funding_correct_per_payment: float = 0.0
    leads_with_withdrawal_address: float = 0.0
    true_income_sats: int = 0
    case_income_sats: int = 0
    income_error: float = 0.0
    true_income_swept_sats: int = 0
    """true payments whose output the service has spent by the tip (visible as its own)"""
    income_error_swept: float = 0.0
    cashout_error_by_entity: dict[str, float] | None = None
    """(case − truth) / truth per exchange; needs the dataset"""
    true_cashout_sats_by_entity: dict[str, int] | None = None
    funding_calibration: dict[str, tuple[int, float]] | None = None
    """per funding hops (1, 2, 3, 4+): (leads, share naming the payer's home exchange) — the
    measured counterpart of the leads' ``confidence``"""

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
        32
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


def _query(data: Path, lookup: _TxidLookup, txids: list[str]) -> list[tuple[Any, ...]]:
    """Rows of ``lookup`` (a :mod:`chainsleuth.store.queries` function of hex txids) over the
    dataset at ``data``."""
    from chainsleuth.store.dataset import Dataset

    with Dataset.open(data) as ds:
        return list(lookup(ds, txids))


def _direct_withdrawals(
    data: Path, txids: list[str], kinds: dict[str, tuple[str, str]]
) -> dict[str, tuple[str, set[str]]]:
    """Payment txid → (exchange, withdrawal txids) for payments spending a withdrawal output."""
    from chainsleuth.store.queries import spent_txids_of_txids

    rows = _query(data, spent_txids_of_txids, txids)
    out: dict[str, tuple[str, set[str]]] = {}
    for pay, prev in rows:
        prev_hex = bytes(prev).hex()
        kind, senders = kinds.get(prev_hex, ("", ""))
        if kind == "withdrawal" and senders:
            entry = out.setdefault(bytes(pay).hex(), (senders.split(";")[0], set()))
            entry[1].add(prev_hex)
    return out


def _sats(row: dict[str, str]) -> int:
    if row.get("amount_btc"):
        return round(float(row["amount_btc"]) * 100_000_000)
    return int(float(row.get("amount") or 0))


def _true_cashouts(
    data: Path, service_txids: list[str], owner: dict[str, tuple[str, str]]
) -> dict[str, int]:
    """Per exchange: what the service's own transactions paid to that exchange's addresses."""
    from chainsleuth.store.queries import output_addresses_of_txids

    rows = _query(data, output_addresses_of_txids, service_txids)
    out: dict[str, int] = {}
    for address, value in rows:
        who, role = owner.get(str(address), ("", ""))
        if role == "exchange":
            out[who] = out.get(who, 0) + int(value)
    return out


def _spent_payments(data: Path, txids: list[str]) -> set[tuple[str, int]]:
    """(txid, vout) of the given transactions' outputs that are spent by the tip."""
    from chainsleuth.store.queries import spent_outputs_of_txids

    rows = _query(data, spent_outputs_of_txids, txids)
    return {(str(t), int(v)) for t, v in rows}


def _per_customer(values: dict[str, set[str]]) -> tuple[float, int]:
    sizes = [len(v) for v in values.values()]
    return (sum(sizes) / len(sizes) if sizes else 0.0, max(sizes, default=0))


def evaluate_investigation(
    case_dir: Path | str, truth_dir: Path | str, data: Path | str | None = None
) -> InvestigationScore:
    """Score ``case_dir`` (leads.csv, case.json) against ``truth_dir``; ``data`` is the dataset
    (default: the one recorded in case.json, when it still exists).

    The module docstring has a runnable example.
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
    clusters_of: dict[str, set[str]] = defaultdict(set)
    groups_of: dict[str, set[str]] = defaultdict(set)
    per_group: dict[str, set[str]] = defaultdict(set)
    pay_ok = pay_n = 0
    for r in leads:
        wallet = true_pay.get(r["payment_txid"])
        if wallet is None:
            continue
        clusters_of[wallet].add(r["customer_cluster"])
        group = r.get("customer_group") or r["customer_cluster"]
        groups_of[wallet].add(group)
        per_group[group].add(wallet)
        if home.get(wallet):
            pay_n += 1
            pay_ok += r["funding_entity"] == home[wallet]
    with_address = sum(1 for r in leads if r.get("funding_address"))
    bands: dict[str, list[int]] = {}
    for r in leads:
        wallet = true_pay.get(r["payment_txid"])
        if wallet is None or not home.get(wallet) or not r["funding_entity"]:
            continue
        hops = int(r.get("funding_hops") or 0)
        row = bands.setdefault(f"hops {min(hops, 4)}{'+' if hops >= 4 else ''}", [0, 0])
        row[0] += 1
        row[1] += r["funding_entity"] == home[wallet]
    true_income = sum(_sats(r) for r in pays if r["service"] == service)
    case_doc: dict[str, Any] = {}
    if (case / "case.json").is_file():
        case_doc = json.loads((case / "case.json").read_text())
    case_income = int(
        case_doc.get("summary", {}).get("income_sats", 0)
        or sum(int(r["amount_sats"]) for r in leads)
    )
    with_home = [w for w in true_wallets if home.get(w)]
    correct = sum(1 for w in with_home if funded[w] and funded[w].most_common(1)[0][0] == home[w])
    data_path = Path(data) if data is not None else None
    if data_path is None and (case / "case.json").is_file():
        recorded = json.loads((case / "case.json").read_text()).get("dataset", {}).get("path")
        if recorded and (Path(recorded) / "manifest.json").is_file():
            data_path = Path(recorded)
    direct: dict[str, tuple[str, set[str]]] = {}
    cash_err: dict[str, float] | None = None
    swept_income = 0
    true_cash: dict[str, int] | None = None
    if data_path is not None:
        direct = _direct_withdrawals(data_path, sorted(true_pay), kinds)
        address_rows = _rows(_first(truth, "addresses.csv"))
        roles = {(r.get("wallet") or r.get("name") or ""): r.get("role", "") for r in owners}
        owner = {
            r["address"]: (w, roles.get(w, ""))
            for r in address_rows
            if (w := r.get("wallet") or r.get("entity") or "")
        }
        own_txs = [t for t, (_k, senders) in kinds.items() if senders == service]
        true_cash = _true_cashouts(data_path, own_txs, owner)
        found: dict[str, int] = defaultdict(int)
        for c in case_doc.get("cashouts", []):
            found[str(c["entity"])] += int(c["amount_sats"])
        spent = _spent_payments(data_path, sorted(true_pay))
        swept_income = sum(
            _sats(r)
            for r in pays
            if r["service"] == service and (r["txid"], int(r.get("vout") or 0)) in spent
        )
        cash_err = {
            e: round((found.get(e, 0) - v) / v, 6) for e, v in sorted(true_cash.items()) if v
        }
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
        n_lead_groups=len({r.get("customer_group") or r["customer_cluster"] for r in leads}),
        clusters_per_customer_mean=round(_per_customer(clusters_of)[0], 3),
        clusters_per_customer_max=_per_customer(clusters_of)[1],
        groups_per_customer_mean=round(_per_customer(groups_of)[0], 3),
        groups_per_customer_max=_per_customer(groups_of)[1],
        false_group_merges=sum(1 for ws in per_group.values() if len(ws) > 1),
        funding_correct_per_payment=_ratio(pay_ok, pay_n),
        leads_with_withdrawal_address=_ratio(with_address, len(leads)),
        true_income_sats=true_income,
        case_income_sats=case_income,
        income_error=round((case_income - true_income) / true_income, 6) if true_income else 0.0,
        true_income_swept_sats=swept_income,
        income_error_swept=(
            round((case_income - swept_income) / swept_income, 6) if swept_income else 0.0
        ),
        cashout_error_by_entity=cash_err,
        true_cashout_sats_by_entity=true_cash,
        funding_calibration={
            band: (n, round(ok / n, 4)) for band, (n, ok) in sorted(bands.items())
        },
    )
