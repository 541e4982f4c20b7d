"""The formats the reference folds: ``format=`` names and their fold classes.

A format is listed here once it is really built (never a stub); every other name is refused by
:func:`check_format` with the list of accepted names. Under ``"auto"`` a stream detected as a
format that is not built goes to the chat fold, which refuses it with
:class:`~deltafold.UnsupportedFormatError` (as before formats existed).
"""

from __future__ import annotations

from typing import Any, Final

from deltafold.reference.anthropic import AnthropicFold
from deltafold.reference.chat import ChatFold
from deltafold.reference.fold import Fold
from deltafold.reference.options import FORMAT_ORDER, _check_format

FOLDS: Final[dict[str, type[Fold]]] = {
    "chat": ChatFold,
    "anthropic": AnthropicFold,
}
#: The names ``format=`` accepts, in the order messages list them.
ACCEPTED: Final = tuple(name for name in FORMAT_ORDER if name == "auto" or name in FOLDS)


def check_format(value: Any) -> None:
    _check_format(value, ACCEPTED)


def fold_class(name: str) -> type[Fold]:
    """The fold of a detected format; the chat fold for one that is not built."""
    return FOLDS.get(name, ChatFold)
