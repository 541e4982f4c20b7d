"""Copies of JSON values and the text-parts list the accumulators keep."""

from __future__ import annotations

from typing import Any

import orjson

Path = tuple[str | int, ...]


class _Parts(list[str]):
    """Text fragments of a generic delta key, joined when rendered.

    A distinct type so that a JSON list value (which appends) is never mistaken for text.
    """

    __slots__ = ()


def _copy(value: Any) -> Any:
    """An independent copy of a JSON value (orjson round trip: exact for what orjson produced)."""
    if type(value) is dict or type(value) is list:
        try:
            return orjson.loads(orjson.dumps(value))
        except orjson.JSONEncodeError:
            return _copy_deep(value)  # nested deeper than orjson goes (max_depth > 1024)
    return value


def _copy_deep(value: Any) -> Any:
    """:func:`_copy` without recursion, for values nested deeper than orjson allows."""
    root: list[Any] = [None]
    work: list[tuple[Any, Any, Any]] = [(value, root, 0)]  # (source, target, key in target)
    while work:
        source, target, key = work.pop()
        if type(source) is dict:
            copied_dict: dict[str, Any] = {}
            target[key] = copied_dict
            for item_key, item in source.items():
                copied_dict[item_key] = None
                work.append((item, copied_dict, item_key))
        elif type(source) is list:
            copied_list: list[Any] = [None] * len(source)
            target[key] = copied_list
            work.extend((item, copied_list, position) for position, item in enumerate(source))
        else:
            target[key] = source
    return root[0]

