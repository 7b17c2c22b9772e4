"""Guard rails around clustering runs (issue 11): stale runs refused, tags hold links only
above a confidence threshold, the run's tag snapshot, tags the run did not see, and the value
each trace limit dropped."""

from __future__ import annotations

import json
import re
import shutil
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from chainsleuth.cli import main
from chainsleuth.cluster.run import cluster_dataset
from chainsleuth.cluster.runs import check_fresh, load_address_cluster, run_params
from chainsleuth.errors import StaleRunError, UnseenTagsWarning
from chainsleuth.store.dataset import Dataset
from chainsleuth.tags.attribution import held_conflicts
from chainsleuth.tags.guard import actor_table, parse_min_confidence
from chainsleuth.tags.store import import_tag_files

CliRun = Callable[..., tuple[int, str, str]]
PACKS = Path(__file__).resolve().parents[1] / "data" / "tagpacks"
EX1, EX2, WRONG = (
    PACKS / "exchange-1-deposits.yaml",
    PACKS / "exchange-2-deposits.yaml",
    PACKS / "misattributed.yaml",
)
WRONG_ADDRESS = "2Mvb7xDcGtwgRCZKn99EbX3QoRGw8pPE4Up"  # exchange-2's, tagged exchange-1 (web_crawl)
EX2_DEFINER = "2MyA9qfZSk1rzwi4St5vZVgQmE7vUrjd8kr"
MINER = "bcrt1q5308qu3ejczty83g4ghe2n23kzulh66wz4wnm2"  # paid from the first blocks on
SERVICE = "bcrt1qrlz3a8k2dar5uy50thgrhjjrdyjrcmp6pwmstv"  # the service's (test purchase 1)
GUARDED = "multi-input,collapse-guard"


# --- stale runs, end to end through the CLI ------------------------------------------------


@pytest.fixture(scope="module")
def stale_dataset(regtest_blocks_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ingested to 300, clustered (run 'mi'), then ingested on to 473."""
    data = str(tmp_path_factory.mktemp("stale") / "dataset")
    blocks = str(regtest_blocks_dir)
    base = ["ingest", blocks, "--data", data, "--network", "regtest", "--json"]
    assert main([*base, "--to-height", "300", "--partition-span", "100"]) == 0
    assert main(["cluster", "--data", data, "--heuristics", "multi-input", "--name", "mi"]) == 0
    assert main(base) == 0
    return Path(data)


STALE = (
    "error: clustering run 'mi' is stale: made at tip 300, dataset tip is 473 "
    "(re-run cluster --force, or pass --allow-stale)\n"
)


@pytest.mark.parametrize(
    "verb",
    [
        ["investigate", "service", "--seed", MINER, "--out", "{tmp}/case"],
        ["trace", MINER],
        ["show", MINER],
        ["show", "cluster:0"],
        ["explain", MINER, MINER],
        ["tags", "conflicts"],
    ],
    ids=lambda v: " ".join(v[:2]),
)
def test_stale_run_is_refused(
    cli_run: CliRun, stale_dataset: Path, tmp_path: Path, verb: list[str]
) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in verb]
    code, out, err = cli_run(*args, "--data", str(stale_dataset))
    assert (code, out.strip(), err) == (2, "", STALE)
    assert not (tmp_path / "case").exists()


def test_allow_stale_warns_and_proceeds(cli_run: CliRun, stale_dataset: Path) -> None:
    data = str(stale_dataset)
    warning = "warning: clustering run 'mi' is stale: made at tip 300, dataset tip is 473"
    code, out, err = cli_run("trace", MINER, "--data", data, "--allow-stale", "--json")
    assert code == 0 and err.startswith(warning) and err.count("\n") == 1
    doc = json.loads(out)
    # the trace records the tips it used: the dataset's and the (older) run's
    assert doc["dataset"]["tip_height"] == 473
    assert doc["clustering_run"]["name"] == "mi" and doc["clustering_run"]["tip_height"] == 300
    code, out, err = cli_run("show", MINER, "--data", data, "--allow-stale", "--json")
    assert code == 0 and warning in err and json.loads(out)["cluster"]["run"] == "mi"
    code, _, err = cli_run("explain", MINER, MINER, "--data", data, "--allow-stale")
    assert code == 0 and warning in err


def test_investigate_allow_stale(cli_run: CliRun, stale_dataset: Path, tmp_path: Path) -> None:
    seed = SERVICE
    code, _, err = cli_run(
        "investigate", "service", "--data", str(stale_dataset), "--seed", seed,
        "--out", str(tmp_path / "case"), "--allow-stale", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert "warning: clustering run 'mi' is stale" in err
    case = json.loads((tmp_path / "case" / "case.json").read_text())
    assert case["clustering_run"]["params"]["tip_height"] == 300


def test_fresh_run_after_reclustering(stale_dataset: Path, tmp_path: Path) -> None:
    data = tmp_path / "dataset"
    shutil.copytree(stale_dataset, data)
    with Dataset.open(data) as ds:
        with pytest.raises(StaleRunError, match="made at tip 300, dataset tip is 473"):
            check_fresh(ds, "mi")
        cluster_dataset(ds, "multi-input", "mi", force=True)  # the stale run is replaced
        assert check_fresh(ds, "mi")["tip_height"] == 473
        # a run whose tip block is not on the dataset's chain (a reorg) is stale as well
        params_file = data / "derived" / "clusters" / "mi" / "params.json"
        params = json.loads(params_file.read_text())
        params["tip_hash"] = "00" * 32
        params_file.write_text(json.dumps(params))
        with pytest.raises(StaleRunError, match="is not on the dataset's chain"):
            check_fresh(ds, "mi")


# --- tags: threshold, snapshot, unseen tags, held conflicts --------------------------------


@pytest.fixture
def ds(regtest_dataset: Path, tmp_path: Path) -> Iterator[Dataset]:
    path = tmp_path / "dataset"
    shutil.copytree(regtest_dataset, path, ignore=shutil.ignore_patterns("derived"))
    with Dataset.open(path) as dataset:
        yield dataset


def _ex2_cluster(ds: Dataset, run: str) -> int:
    """The cluster holding most of exchange-2's tagged deposit addresses."""
    mapping = load_address_cluster(ds, run)
    ex2 = [r[0] for r in actor_table(ds).rows if r[1] == "exchange-2"]
    return int(np.bincount(mapping[ex2]).argmax())


def _in_ex2(ds: Dataset, run: str, address: str) -> bool:
    return int(load_address_cluster(ds, run)[ds.addr_id(address)]) == _ex2_cluster(ds, run)


def test_min_confidence_parses_names_and_levels() -> None:
    assert [parse_min_confidence(v) for v in ("50", "web_crawl", "ownership", 0)] == [
        50,
        20,
        100,
        0,
    ]
    with pytest.raises(Exception, match="--tag-min-confidence"):
        parse_min_confidence("high")


def test_weak_tag_does_not_hold_links_strong_tag_does(
    ds: Dataset, cli_run: CliRun, tmp_path: Path
) -> None:
    import_tag_files(ds, [EX1, EX2, WRONG])
    # default threshold (50): the web_crawl tag labels, but holds nothing apart
    strong_only = actor_table(ds)
    assert ds.addr_id(WRONG_ADDRESS) not in {r[0] for r in strong_only.rows}
    cluster_dataset(ds, GUARDED, "strong", actors=strong_only)
    assert _in_ex2(ds, "strong", WRONG_ADDRESS)
    code, out, _ = cli_run("tags", "conflicts", "--data", str(ds.path), "--json")
    [merged] = json.loads(out)
    assert code == 0 and merged["kind"] == "merged"
    assert WRONG_ADDRESS in {t["address"] for t in merged["tags"]}
    # with the web_crawl tag allowed to vote, it holds the certain links back...
    cluster_dataset(ds, GUARDED, "weak", actors=actor_table(ds, 20))
    assert not _in_ex2(ds, "weak", WRONG_ADDRESS)
    held = pq.read_table(ds.path / "derived" / "clusters" / "weak" / "held.parquet")
    assert "actor-guard" in held.column("reason").to_pylist()
    # ...and the conflict stays visible, as a held pair naming the wrong tag
    [pair] = held_conflicts(ds, "weak").to_pylist()
    wrong_cluster = int(load_address_cluster(ds, "weak")[ds.addr_id(WRONG_ADDRESS)])
    assert {pair["cluster_a"], pair["cluster_b"]} == {wrong_cluster, _ex2_cluster(ds, "weak")}
    code, out, _ = cli_run(
        "tags", "conflicts", "--data", str(ds.path), "--clustering", "weak", "--json"
    )
    [reported] = json.loads(out)
    assert code == 0 and reported["kind"] == "held" and reported["n_links"] == pair["n_links"]
    assert WRONG_ADDRESS in {t["address"] for t in reported["tags"]}
    code, out, _ = cli_run("tags", "conflicts", "--data", str(ds.path), "--clustering", "weak")
    assert code == 0 and "held apart by the collapse guard" in out and WRONG_ADDRESS in out
    # the same wrong claim made with strong confidence does hold the links at the default
    strong_wrong = tmp_path / "strong-wrong.yaml"
    strong_wrong.write_text(
        WRONG.read_text().replace("confidence: web_crawl", "confidence: forensic_investigation")
    )
    import_tag_files(ds, [strong_wrong])
    code, out, err = cli_run(
        "cluster", "--data", str(ds.path), "--heuristics", GUARDED, "--name", "cli", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["tag_min_confidence"] == 50
    assert not _in_ex2(ds, "cli", WRONG_ADDRESS)


def test_run_records_its_tag_snapshot(ds: Dataset) -> None:
    cluster_dataset(ds, GUARDED, "none")
    empty = run_params(ds, "none")["tags"]
    assert (empty["n_tags"], empty["packs"], empty["min_confidence"]) == (0, [], None)
    assert run_params(ds, "none")["thresholds"]["actor_guard"] is False
    import_tag_files(ds, [EX1])
    cluster_dataset(ds, GUARDED, "ex1", actors=actor_table(ds))
    one = run_params(ds, "ex1")["tags"]
    assert one["packs"] == ["exchange-1 test deposits"] and one["min_confidence"] == 50
    assert (one["n_tags"], one["n_addresses"], one["n_actors"]) == (10, 10, 1)
    assert one["snapshot_sha256"] != empty["snapshot_sha256"]
    assert run_params(ds, "ex1")["thresholds"]["actor_guard"] is True
    import_tag_files(ds, [EX2])
    cluster_dataset(ds, GUARDED, "both", actors=actor_table(ds))
    both = run_params(ds, "both")["tags"]
    assert both["snapshot_sha256"] != one["snapshot_sha256"] and both["n_actors"] == 2
    used = pq.read_table(ds.path / "derived" / "clusters" / "both" / "tags.parquet")
    assert used.num_rows == both["n_tags"]
    # the same tags give the same snapshot
    cluster_dataset(ds, GUARDED, "again", actors=actor_table(ds))
    assert run_params(ds, "again")["tags"]["snapshot_sha256"] == both["snapshot_sha256"]


def test_tags_imported_after_clustering_are_named(ds: Dataset, cli_run: CliRun) -> None:
    import_tag_files(ds, [EX1])
    cluster_dataset(ds, GUARDED, "g", actors=actor_table(ds))
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        check_fresh(ds, "g")
    assert seen == []  # it saw every tag
    import_tag_files(ds, [EX2, WRONG])
    with pytest.warns(UnseenTagsWarning, match="did not see 13 tags imported after it") as caught:
        check_fresh(ds, "g")
    [message] = [str(w.message) for w in caught.list]
    assert "'exchange-2 deposits'" in message and "'exchange-2'" in message
    assert "misattributed" not in message  # web_crawl: below the run's threshold
    code, _, err = cli_run("show", EX2_DEFINER, "--data", str(ds.path), "--json")
    assert code == 0
    [line] = err.splitlines()
    assert (
        line.startswith("warning: clustering run 'g' did not see 13 tags") and "exchange-2" in line
    )
    # a run without the collapse guard cannot be changed by tags: nothing to warn about
    cluster_dataset(ds, "multi-input", "mi")
    code, _, err = cli_run("show", EX2_DEFINER, "--data", str(ds.path), "--clustering", "mi")
    assert (code, err) == (0, "")


# --- the trace table shows the value each limit dropped ------------------------------------


def test_trace_table_lists_dropped_value(ds: Dataset, cli_run: CliRun) -> None:
    cluster_dataset(ds, "multi-input", "mi")
    args = ["trace", SERVICE, "--data", str(ds.path), "--hops", "2", "--min-value", "1000000"]
    code, out, _ = cli_run(*args, "--json")
    assert code == 0
    doc = json.loads(out)
    dropped = {d["option"]: d for d in doc["dropped"]}
    assert dropped["--min-value"]["value_sats"] == doc["below_min_value_sats"] > 0
    assert dropped["--hops"]["value_sats"] == sum(
        e["value_sats"] for e in doc["endpoints"] if e["kind"] == "hop-limit"
    )
    assert doc["seed_value_sats"] > 0
    code, out, _ = cli_run(*args)
    assert code == 0 and "value dropped by limits" in out
    assert dropped["--hops"]["value_sats"] > 0
    for option in ("--min-value", "--hops"):
        d = dropped[option]
        row = next(line for line in out.splitlines() if option in line)
        btc, share = re.findall(r"([\d.]+)%?", row.split(option, 1)[1])[:2]
        assert btc == f"{d['value_sats'] / 1e8:.8f}"
        assert share == f"{100 * d['share']:.2f}"
    np.testing.assert_allclose(
        sum(d["share"] for d in doc["dropped"]),
        sum(d["value_sats"] for d in doc["dropped"]) / doc["seed_value_sats"],
    )
