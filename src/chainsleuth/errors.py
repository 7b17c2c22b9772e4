"""The one exception tree of chainsleuth.

::

    ChainsleuthError                 internal failure        exit 1 / HTTP 500
    └── UserError                    bad usage or input      exit 2 / HTTP 400
        ├── InputError               a file or value the user gave is unusable
        │   ├── BlockDataError       a block that fails to parse or to check out (file, offset)
        │   └── NetworkMismatchError magic / address / dataset of another network
        ├── NotFoundError            an address, txid, block or cluster not in the dataset (404)
        ├── DatasetError             a dataset directory that is missing, foreign or incompatible
        │   └── IntegrityError       files that do not match the manifest (``verify``)
        └── StaleRunError            a clustering run made at another tip than the dataset's (409)

    ChainsleuthWarning (UserWarning) a result is usable but the user should know (stderr)
    ├── StaleRunWarning              a stale clustering run used anyway (``--allow-stale``)
    └── UnseenTagsWarning            tags imported after the clustering run was made

The CLI prints ``str(error)`` on one line and exits with ``error.exit_code``; the API maps
``error.http_status``. Messages name the bad value.

>>> try:
...     raise NotFoundError("address not in dataset: 1BoatSLRHtKNngkdXEeobR76b53LETtpyT")
... except UserError as e:
...     (e.exit_code, e.http_status)
(2, 404)
"""

from __future__ import annotations

__all__ = [
    "BlockDataError",
    "ChainsleuthError",
    "ChainsleuthWarning",
    "DatasetError",
    "InputError",
    "IntegrityError",
    "NetworkMismatchError",
    "NotFoundError",
    "SeedRefusedError",
    "StaleRunError",
    "StaleRunWarning",
    "UnseenTagsWarning",
    "UserError",
]


class ChainsleuthError(Exception):
    """Root of every chainsleuth error; a bare instance means an internal failure."""

    exit_code: int = 1
    http_status: int = 500


class UserError(ChainsleuthError):
    """Bad usage or bad input: the user can fix it; no traceback is shown."""

    exit_code = 2
    http_status = 400


class InputError(UserError):
    """A file, string or parameter given by the user cannot be used."""


class BlockDataError(InputError):
    """A block or transaction that is truncated, corrupt or does not check out."""


class NetworkMismatchError(InputError):
    """Data of one network (magic, address, dataset) used where another was expected."""


class NotFoundError(UserError):
    """A looked-up object (address, txid, block, cluster, run) is not in the dataset."""

    http_status = 404


class DatasetError(UserError):
    """A dataset directory that is missing, of another network, or of another schema."""


class IntegrityError(DatasetError):
    """A dataset whose files or manifest do not check out: one line per problem, each naming
    the file (``chainsleuth verify``).

    >>> print(IntegrityError(["tables/txs/a.parquet: sha256 mismatch", "b.npy: missing"]))
    tables/txs/a.parquet: sha256 mismatch
    b.npy: missing
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StaleRunError(UserError):
    """A clustering run that does not describe the dataset's chain any more: the dataset's tip
    is newer than the run's, or the run's tip block is not on the dataset's chain (a reorg)."""

    http_status = 409


class SeedRefusedError(InputError):
    """An investigation seed that cannot be a service's: attributed to an exchange (or to
    another actor than the other seeds), or whose wallet grows past the bound."""


class ChainsleuthWarning(UserWarning):
    """Root of chainsleuth's warnings: the CLI prints each as one ``warning:`` line on stderr."""


class StaleRunWarning(ChainsleuthWarning):
    """A stale clustering run used anyway because the caller allowed it."""


class UnseenTagsWarning(ChainsleuthWarning):
    """Tags that could have changed a clustering run were imported after it was made."""
