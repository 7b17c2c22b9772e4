"""chainsleuth: open-source Bitcoin forensics.

Ingest the chain into a Parquet dataset, cluster addresses into wallets, attribute them with
tags, trace flows and investigate services, with evidence (txid + rule) for every claim.

>>> import chainsleuth
>>> chainsleuth.__version__
'0.1.0'
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
