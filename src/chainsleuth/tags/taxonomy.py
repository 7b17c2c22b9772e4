"""Tag categories and confidence levels, after the GraphSense taxonomies.

Categories are concept ids of the GraphSense "concepts" taxonomy (itself derived from the
INTERPOL Darknet and Cryptocurrencies Working Group taxonomy): entity types such as
``exchange`` or ``market`` and abuse types such as ``ransomware`` or ``scam``. Confidence is
one of GraphSense's named levels, each with a number from 5 (unknown origin) to 100 (proven
ownership), so tags from different sources can be ranked.

>>> confidence_level("ownership")
100
>>> check_category("exchange")
'exchange'
"""

from __future__ import annotations

from dataclasses import dataclass

from chainsleuth.errors import InputError

__all__ = [
    "CATEGORIES",
    "CONFIDENCE",
    "Category",
    "Confidence",
    "check_category",
    "check_confidence",
    "confidence_level",
]


@dataclass(frozen=True, slots=True)
class Category:
    """One concept a tag can put an address in; ``group`` is its broader family."""

    id: str
    group: str
    description: str


@dataclass(frozen=True, slots=True)
class Confidence:
    """A named level of trust in a tag's source, with its rank from 5 to 100."""

    id: str
    level: int
    description: str


_SERVICE = "service"
_ABUSE = "abuse"
_USER = "user"
_USAGE = "usage"

CATEGORIES: dict[str, Category] = {
    c.id: c
    for c in (
        # services
        Category(
            "exchange", _SERVICE, "custodial exchange trading crypto for fiat or other assets"
        ),
        Category("atm", _SERVICE, "physical kiosk swapping cash and cryptoassets"),
        Category("market", _SERVICE, "online marketplace for (often illicit) goods and services"),
        Category("shop", _SERVICE, "online shop selling directly to its customers"),
        Category("mixing_service", _SERVICE, "tumbler that mixes coins to hide their origin"),
        Category("gambling", _SERVICE, "betting, casino or lottery service"),
        Category("mining_service", _SERVICE, "mining pool or cloud mining operator"),
        Category("wallet_service", _SERVICE, "service keeping keys on behalf of its users"),
        Category("escrow_wallet", _SERVICE, "mediator holding funds until a deal completes"),
        Category("ico_wallet", _SERVICE, "wallet that collected an initial coin offering"),
        Category("payment_processor", _SERVICE, "gateway letting merchants accept crypto"),
        Category("faucet", _SERVICE, "site giving away small amounts of coins"),
        Category("filesharing", _SERVICE, "service distributing files or media"),
        Category("hosting", _SERVICE, "provider of servers or hosting"),
        Category("vpn", _SERVICE, "virtual private network provider"),
        Category("index", _SERVICE, "directory of darknet or clearnet sites"),
        Category("search_engine", _SERVICE, "web or darknet search engine"),
        Category("messaging_service", _SERVICE, "chat or instant messaging service"),
        Category("defi", _SERVICE, "decentralised finance protocol"),
        Category("defi_dex", _SERVICE, "decentralised exchange"),
        Category("defi_lending", _SERVICE, "decentralised lending protocol"),
        Category("defi_bridge", _SERVICE, "bridge moving assets between ledgers"),
        Category("organization", _SERVICE, "company, public body or other institution"),
        # users
        Category("user", _USER, "person using cryptoassets or services"),
        Category("miner", _USER, "individual or entity that mines blocks"),
        Category("donation", _USER, "recipient of donations"),
        Category("perpetrator", _USER, "person who committed a crime"),
        Category("victim", _USER, "person harmed by a crime"),
        # usage patterns
        Category("coinjoin", _USAGE, "collaborative transaction mixing several users' coins"),
        Category("mixing", _USAGE, "activity concealing the source or destination of funds"),
        Category("hot_wallet", _USAGE, "wallet whose keys are used automatically"),
        Category("cold_wallet", _USAGE, "offline wallet"),
        Category("warm_wallet", _USAGE, "wallet used with a person in the loop"),
        # abuses
        Category("abuse", _ABUSE, "abuse of an unspecified kind"),
        Category("scam", _ABUSE, "fraudulent or deceptive operation"),
        Category("ransomware", _ABUSE, "malware extorting a ransom"),
        Category("extortion", _ABUSE, "obtaining money by threats"),
        Category("sextortion", _ABUSE, "extortion with sexual material"),
        Category("phishing", _ABUSE, "stealing credentials by impersonation"),
        Category("service_hack", _ABUSE, "theft of funds by breaking into a service"),
        Category("financial_crime", _ABUSE, "crime involving money or financial assets"),
        Category("investment_fraud", _ABUSE, "fraudulent investment offering"),
        Category("ponzi_scheme", _ABUSE, "paying old investors with new investors' money"),
        Category("pyramid_scheme", _ABUSE, "Ponzi scheme paying recruitment commissions"),
        Category("money_laundering", _ABUSE, "disguising the origin of criminal proceeds"),
        Category("payment_card_fraud", _ABUSE, "crime around stolen or forged payment cards"),
        Category("sanction", _ABUSE, "entry on a sanctions list"),
        Category("terrorism", _ABUSE, "financing or promotion of terrorism"),
        Category("extremism", _ABUSE, "violent extremism"),
        Category("child_sexual_abuse", _ABUSE, "child sexual abuse material or related crime"),
        Category("sexual_abuse", _ABUSE, "sexual abuse"),
        Category("violence", _ABUSE, "violent crime"),
        Category("dark_web", _ABUSE, "offering reachable only through a darknet"),
    )
}

CONFIDENCE: dict[str, Confidence] = {
    c.id: c
    for c in (
        Confidence("override", 100, "creator asserts the tag for the whole cluster"),
        Confidence("ownership", 100, "creator controls the address's private key"),
        Confidence("ledger_immanent", 100, "read off the ledger itself (e.g. a coinbase payout)"),
        Confidence("manual_transaction", 90, "creator moved funds to or from the service"),
        Confidence("service_api", 70, "obtained from the service's own trusted API"),
        Confidence("forensic_investigation", 70, "from law-enforcement or forensic case material"),
        Confidence("authority_data", 60, "published by a public authority (e.g. a sanctions list)"),
        Confidence("trusted_provider", 50, "obtained from a trusted third party"),
        Confidence("service_data", 50, "handed over by the service (e.g. an exchange's response)"),
        Confidence("forensic", 50, "taken from forensic or academic reports"),
        Confidence("untrusted_transaction", 40, "a third party moved funds to or from the service"),
        Confidence("web_crawl", 20, "crawled from the web or data dumps"),
        Confidence("heuristic", 10, "produced by a method of unquantified reliability"),
        Confidence("unknown", 5, "origin and reliability unknown"),
    )
}


def check_category(value: str) -> str:
    """Return ``value`` if it is a known category id, else raise InputError listing them all.

    >>> check_category("ransomware")
    'ransomware'
    >>> try:
    ...     check_category("bank")
    ... except InputError as e:
    ...     str(e)[:45]
    "unknown category 'bank' (valid: exchange, atm"
    """
    if value in CATEGORIES:
        return value
    raise InputError(f"unknown category {value!r} (valid: {', '.join(CATEGORIES)})")


def check_confidence(value: str) -> str:
    """Return ``value`` if it is a known confidence name, else raise InputError listing them.

    >>> check_confidence("forensic")
    'forensic'
    """
    if value in CONFIDENCE:
        return value
    valid = ", ".join(f"{c.id} ({c.level})" for c in CONFIDENCE.values())
    raise InputError(f"unknown confidence {value!r} (valid: {valid})")


def confidence_level(name: str) -> int:
    """The numeric level (5-100) of a confidence name; InputError for an unknown name.

    >>> confidence_level("web_crawl")
    20
    """
    return CONFIDENCE[check_confidence(name)].level
