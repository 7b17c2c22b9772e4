"""Guards for reading YAML from outside: a document whose aliases expand without bound (an
"alias bomb", or a value that refers to itself) is refused before anything walks it.

>>> import yaml
>>> bomb = "a: &a [x, x, x]\\nb: &b [*a, *a, *a]\\nc: [*b, *b, *b]\\n"
>>> node = yaml.compose(bomb, Loader=yaml.SafeLoader)
>>> expands_beyond(node, 40), expands_beyond(node, 100)
(True, False)
"""

from __future__ import annotations

import yaml

__all__ = ["CONSTRUCT_ERRORS", "expands_beyond"]

CONSTRUCT_ERRORS = (
    ValueError,  # a timestamp like 2024-13-01, !!int on a non-number
    TypeError,
    KeyError,  # !!bool on a non-boolean
    IndexError,  # !!float on an empty value
    AttributeError,  # !!timestamp on a non-timestamp
    OverflowError,
    RecursionError,
)
"""What PyYAML's constructors raise on values it cannot build; a reader turns them into its
own one-line InputError."""


def expands_beyond(node: yaml.Node, limit: int) -> bool:
    """Whether ``node`` has more than ``limit`` nodes once aliases are expanded. The walk stops
    at ``limit + 1`` nodes, so a self-referring or exponential document costs O(limit).

    >>> expands_beyond(yaml.compose("[1, 2]", Loader=yaml.SafeLoader), 2)
    True
    """
    stack = [node]
    seen = 0
    while stack:
        current = stack.pop()
        seen += 1
        if seen > limit:
            return True
        if isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
        elif isinstance(current, yaml.MappingNode):
            for pair in current.value:
                stack.extend(pair)
    return False
