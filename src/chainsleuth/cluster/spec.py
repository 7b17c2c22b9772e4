"""Which heuristics a clustering run applies, parsed from the ``--heuristics`` option.

``multi-input`` links co-spent inputs (CoinJoins and coinbases skipped); ``default`` adds the
consensus change rule and the collapse guard. A comma-separated list may name
``multi-input``, ``change`` (the default consensus set), ``self-transfer``, ``collapse-guard``,
``change-model`` (the learned change classifier, the shipped model; ``change-model=FILE`` for
another model file), ``changeless-veto`` (no change link in a transaction whose every output is
worth at least its smallest input) and individual change heuristics (which then form the
consensus set).

>>> parse_heuristics("multi-input")  # doctest: +NORMALIZE_WHITESPACE
HeuristicSpec(multi_input=True, change=(), collapse_guard=False, self_transfer=False,
              change_model=None, changeless_veto=False)
>>> parse_heuristics("multi-input,fresh_address,script_type").change
('fresh_address', 'script_type')
>>> parse_heuristics("multi-input,change-model").change_model
''
"""

from __future__ import annotations

from dataclasses import dataclass

from chainsleuth.errors import InputError
from chainsleuth.heuristics.change import CHANGE_HEURISTICS, CHANGELESS_VETO
from chainsleuth.heuristics.changemodel import CHANGE_MODEL
from chainsleuth.heuristics.consensus import DEFAULT_CONSENSUS
from chainsleuth.heuristics.selftransfer import SELF_TRANSFER

__all__ = ["HeuristicSpec", "parse_heuristics"]


@dataclass(frozen=True, slots=True)
class HeuristicSpec:
    """The parts of a clustering: multi-input links, consensus change set, collapse guard."""

    multi_input: bool
    change: tuple[str, ...]
    collapse_guard: bool
    self_transfer: bool = False
    change_model: str | None = None
    """the learned change model: None (not used), "" (the shipped model) or a model file"""
    changeless_veto: bool = False
    """drop change links in transactions that look changeless (see ``changeless_txs``)"""

    @property
    def needs_change_context(self) -> bool:
        """Whether any part judges outputs (change, self-transfer, the change model).

        >>> parse_heuristics("multi-input").needs_change_context
        False
        """
        return bool(self.change) or self.self_transfer or self.change_model is not None

    @property
    def needs_cospend(self) -> bool:
        """Whether a part reads the co-spend clusters of the whole chain
        (``cospent_elsewhere``, the change model's features).

        >>> parse_heuristics("default").needs_cospend
        False
        """
        return "cospent_elsewhere" in self.change or self.change_model is not None

    def names(self) -> list[str]:
        """The heuristics as recorded in ``params.json``.

        >>> parse_heuristics("default").names()[:2]
        ['multi-input', 'change:address_reuse']
        """
        out = ["multi-input"] if self.multi_input else []
        out += [f"change:{name}" for name in self.change]
        if self.self_transfer:
            out.append(SELF_TRANSFER)
        if self.change_model is not None:
            out.append(f"{CHANGE_MODEL}={self.change_model}" if self.change_model else CHANGE_MODEL)
        if self.changeless_veto:
            out.append(CHANGELESS_VETO)
        if self.collapse_guard:
            out.append("collapse-guard")
        return out


def parse_heuristics(text: str) -> HeuristicSpec:
    """Parse ``multi-input``, ``default`` or a comma-separated list (InputError if unknown).

    See the module docstring for examples.
    """
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if not tokens:
        raise InputError(f"no heuristics given: {text!r}")
    multi = guard = selfx = veto = False
    model: str | None = None
    change: list[str] = []
    for token in tokens:
        if token == "default":
            multi = guard = True
            change.extend(DEFAULT_CONSENSUS)
        elif token == "multi-input":
            multi = True
        elif token == "collapse-guard":
            guard = True
        elif token == SELF_TRANSFER:
            selfx = True
        elif token == "change":
            change.extend(DEFAULT_CONSENSUS)
        elif token in CHANGE_HEURISTICS:
            change.append(token)
        elif token == CHANGELESS_VETO:
            veto = True
        elif token == CHANGE_MODEL:
            model = model or ""
        elif token.startswith(CHANGE_MODEL + "="):
            model = token.split("=", 1)[1]
            if not model:
                raise InputError(f"no model file given: {token!r}")
        else:
            known = ", ".join(
                [
                    "default",
                    "multi-input",
                    "change",
                    SELF_TRANSFER,
                    "collapse-guard",
                    CHANGE_MODEL,
                    CHANGELESS_VETO,
                    *CHANGE_HEURISTICS,
                ]
            )
            raise InputError(f"unknown heuristic: {token!r} (known: {known})")
    return HeuristicSpec(multi, tuple(dict.fromkeys(change)), guard, selfx, model, veto)
