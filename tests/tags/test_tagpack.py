"""TagPack YAML: header inheritance, targets, exact errors, and write/read round trips."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.chain.network import get_network
from chainsleuth.errors import InputError, NetworkMismatchError
from chainsleuth.tags.model import Pack, Tag
from chainsleuth.tags.tagpack import read_tagpacks, write_tagpacks
from chainsleuth.tags.taxonomy import CATEGORIES, CONFIDENCE

from .conftest import INVALID, PACKS, truth_rows

REGTEST = get_network("regtest")
NOW = datetime(2025, 2, 1, 12, 0, tzinfo=UTC)


def _read(name: str) -> list[tuple[Pack, list[Tag]]]:
    path = PACKS / name
    return read_tagpacks(path.read_text(), str(path), REGTEST, now=NOW)


def test_header_fields_are_inherited() -> None:
    [(pack, tags)] = _read("exchange-1-deposits.yaml")
    assert pack == Pack(
        "exchange-1 test deposits",
        "chainsleuth test suite",
        "Deposit addresses obtained by depositing small amounts at exchange-1.",
        False,
    )
    truth = {r["address"]: r["wallet"] for r in truth_rows()}
    address_tags = [t for t in tags if t.target_kind == "address"]
    assert len(address_tags) == 10
    for t in address_tags:
        assert truth[t.target] == "exchange-1"
        assert (t.label, t.category, t.actor, t.source, t.confidence) == (
            "Exchange One",
            "exchange",
            "exchange-1",
            "test deposit",
            "manual_transaction",
        )
        assert t.lastmod == datetime(2025, 1, 10, tzinfo=UTC) == t.created
        assert t.pack == "exchange-1 test deposits"
    assert address_tags[0].context == '{"order": "deposit-1"}'
    [tx] = [t for t in tags if t.target_kind == "tx"]
    assert tx.target == "eff3466a5d3e7888b39edcbee133a2fa9295c8ed0a7d8c955c7780879c296611"
    assert (tx.label, tx.confidence, tx.confidence_level) == (
        "Exchange One withdrawal",
        "service_data",
        50,
    )


def test_cluster_definer_and_per_tag_override() -> None:
    [(_, tags)] = _read("exchange-2-deposits.yaml")
    assert [t.target_kind for t in tags].count("cluster") == 1
    first = tags[0]
    assert first.target_kind == "cluster"
    assert first.confidence == "ownership"
    assert first.lastmod == datetime(2025, 1, 11, 9, 30, tzinfo=UTC)
    assert {t.confidence for t in tags[1:]} == {"service_data"}
    assert all(t.created == NOW for t in tags[1:])


def test_bitcoin_pack_applies_to_any_bitcoin_network() -> None:
    text = (PACKS / "exchange-1-deposits.yaml").read_text()
    for name in ("main", "test", "signet"):
        with pytest.raises(NetworkMismatchError, match=r"is not valid on " + name):
            read_tagpacks(text, "x.yaml", get_network(name))


def test_network_field_must_match_dataset() -> None:
    text = (PACKS / "service-purchases.yaml").read_text()
    assert len(read_tagpacks(text, "s.yaml", REGTEST)[0][1]) == 3
    with pytest.raises(NetworkMismatchError, match=r"s.yaml:5: field 'network': pack is for"):
        read_tagpacks(text, "s.yaml", get_network("main"))


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        (
            "bad-address.yaml",
            InputError,
            r"bad-address.yaml:9: field 'address': invalid address "
            r"bcrt1q57jxq2ww5f3alrhu3ydxkf8py58s9wgcayuecq: ",
        ),
        (
            "mainnet-address.yaml",
            NetworkMismatchError,
            r"mainnet-address.yaml:9: field 'address': address 1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa "
            r"is not valid on regtest \(it is a main address\)$",
        ),
        (
            "unknown-category.yaml",
            InputError,
            r"unknown-category.yaml:9: field 'category': unknown category 'bank' "
            r"\(valid: exchange,",
        ),
        (
            "missing-label.yaml",
            InputError,
            r"missing-label.yaml:9: field 'label': missing required field$",
        ),
        (
            "missing-creator.yaml",
            InputError,
            r"missing-creator.yaml:1: field 'creator': missing required field$",
        ),
        (
            "bad-yaml.yaml",
            InputError,
            r"bad-yaml.yaml:8: invalid YAML: while parsing a flow sequence",
        ),
        (
            "other-currency.yaml",
            InputError,
            r"other-currency.yaml:3: field 'currency': unsupported currency 'ETH' \(valid: BTC\)$",
        ),
    ],
)
def test_invalid_packs_name_file_line_field(name: str, error: type, message: str) -> None:
    path = INVALID / name
    with pytest.raises(error, match=message) as info:
        read_tagpacks(path.read_text(), name, REGTEST)
    assert type(info.value) is error


def test_unknown_field_and_empty_pack() -> None:
    base = "title: t\ncreator: c\ncurrency: BTC\nsource: s\nconfidence: forensic\n"
    with pytest.raises(InputError, match=r"x:6: field 'colour': unknown header field"):
        read_tagpacks(base + "colour: red\ntags: []\n", "x", REGTEST)
    with pytest.raises(InputError, match=r"x:6: field 'tags': the pack has no tags"):
        read_tagpacks(base + "tags: []\n", "x", REGTEST)
    with pytest.raises(InputError, match=r"x:8: field 'label': duplicate field in tag"):
        read_tagpacks(
            base + "tags:\n  - {address: mgKK8smbw9mh6sjUqKNhVGrR1eohJJrxCj, label: a,\n"
            "     label: b}\n",
            "x",
            REGTEST,
        )
    with pytest.raises(InputError, match=r"x:7: field 'tx_hash': not a 64-hex-digit txid"):
        read_tagpacks(base + "tags:\n  - tx_hash: abc\n    label: l\n", "x", REGTEST)


_ADDRESSES = [r["address"] for r in truth_rows()[:200]]
_text = (
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
_times = st.datetimes(
    min_value=datetime(2009, 1, 3), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def _tags(draw: st.DrawFn) -> Tag:
    kind = draw(st.sampled_from(["address", "tx", "cluster"]))
    target = (
        draw(st.binary(min_size=32, max_size=32)).hex()
        if kind == "tx"
        else draw(st.sampled_from(_ADDRESSES))
    )
    created = draw(_times)
    return Tag(
        target_kind=kind,  # type: ignore[arg-type]
        target=target,
        label=draw(_text),
        category=draw(st.none() | st.sampled_from(sorted(CATEGORIES))),
        actor=draw(st.none() | _text),
        source=draw(_text),
        confidence=draw(st.sampled_from(sorted(CONFIDENCE))),
        context=draw(st.none() | _text),
        created=created,
        lastmod=draw(_times),
        pack="p",
        abuse=draw(st.none() | st.sampled_from(["scam", "ransomware"])),
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(_tags(), min_size=1, max_size=6), _text, _text, st.none() | _text)
def test_write_read_round_trip(tags: list[Tag], title: str, creator: str, desc: str | None) -> None:
    tags = [Tag(**{**t.to_dict(), "pack": title}) for t in tags]
    pack = Pack(title, creator, desc, None)
    text = write_tagpacks(
        [(pack, tags), (Pack("second", "me"), [Tag(**{**tags[0].to_dict(), "pack": "second"})])]
    )
    [(pack1, tags1), (pack2, tags2)] = read_tagpacks(text, "rt.yaml", REGTEST, now=NOW)
    assert pack1 == pack and tags1 == tags
    assert pack2.title == "second" and tags2[0].label == tags[0].label
