"""C1: no input may overflow the stack. Every path that walks a nested value (chunk parse,
merge, repair, partial arguments, error bodies, Python conversion, dropping) runs at the
largest ``max_depth`` (``MAX_DEPTH_CEILING``) in a thread with a 256 KiB stack, in a
subprocess, so a stack overflow shows up as a crashed child instead of killing the test run.

The variants: each path, with objects and with arrays, at the ceiling (which must succeed) and
one level past ``max_depth`` (which must be a typed ``LimitExceededError``)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from types import ModuleType

import pytest
from deltafold.reference import MAX_DEPTH_CEILING

CHILD = textwrap.dedent(
    """
    import json, sys, threading
    impl = __import__(sys.argv[1], fromlist=["_"])
    import deltafold
    CEILING, SHAPE, PATH = int(sys.argv[2]), sys.argv[3], sys.argv[4]

    def nested(levels):
        if SHAPE == "object":
            return '{"a":' * levels + "1" + "}" * levels
        return "[" * levels + "1" + "]" * levels

    def depth_of(value):
        depth = 0
        while isinstance(value, (dict, list)):
            depth += 1
            if not value:  # partial arguments: a container just opened
                break
            value = value.get("a") if isinstance(value, dict) else value[0]
        return depth

    def sse(*payloads):
        body = b"".join(b"data: " + p.encode() + b"\\n\\n" for p in payloads)
        return body + b"data: [DONE]\\n\\n"

    HEAD = '"id":"c","object":"chat.completion.chunk","created":1,"model":"m"'
    FIN = '{' + HEAD + ',"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}'

    def run(levels, extra=0):
        # levels: the deepest value's own nesting; the chunk around it adds its own levels.
        v = nested(levels + extra)
        if PATH == "merge":
            # The same deep key in three chunks (top level, choice level, usage): merged.
            usage, choice = nested(levels - 1 + extra), nested(levels - 2 + extra)
            chunk = ('{' + HEAD + ',"x":' + v + ',"usage":{"d":' + usage
                     + '},"choices":[{"index":0,"delta":{},"y":' + choice + '}]}')
            r = impl.assemble(sse(chunk, chunk, FIN), max_depth=CEILING)
            return [depth_of(r["x"]), depth_of(r["usage"]["d"]) + 1,
                    depth_of(r["choices"][0]["y"]) + 2]
        if PATH == "repair":
            chunk = '{' + HEAD + ',"x":' + v + ']}'
            r = impl.assemble(sse(chunk, FIN), max_depth=CEILING, on_error="repair")
            return [depth_of(r.get("x"))]  # a chunk over the limit is skipped
        if PATH == "events":
            out = []
            usage = nested(levels - 1 + extra)  # chunk > usage > d: two levels around it
            chunk = '{' + HEAD + ',"choices":[],"usage":{"d":' + usage + '}}'
            for ev in impl.iter_events(sse(chunk, FIN), max_depth=CEILING):
                if ev.type == "usage":
                    out.append(depth_of(ev.usage["d"]) + 1)
            return out
        if PATH == "partial":
            args = nested(levels + 1 + extra)  # the arguments' own top level counts as 1
            frags = [args[i:i + 9] for i in range(0, len(args), 9)]
            chunks = ['{' + HEAD + ',"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
                      '"function":{"arguments":' + json.dumps(f) + '}}]}}]}' for f in frags]
            deepest = 0
            stream = sse(*chunks, FIN)
            for ev in impl.iter_events(stream, partial_arguments=True, max_depth=CEILING):
                if ev.type.startswith("tool_calls") and ev.parsed_arguments is not None:
                    deepest = max(deepest, depth_of(ev.parsed_arguments))
            return [deepest - 1]
        if PATH == "error":
            try:
                impl.assemble(sse('{"error":' + v + '}'), max_depth=CEILING)
            except deltafold.StreamAPIError as e:
                return [depth_of(e.body)]
            return None
        raise AssertionError(PATH)

    result = {}
    def body():
        try:
            result["ok"] = run(CEILING - 1)
        except Exception as e:
            result["ok"] = repr(e)
        try:
            run(CEILING - 1, extra=1)
            result["over"] = "no error"
        except Exception as e:
            result["over"] = type(e).__name__ + ":" + str(getattr(e, "limit", ""))

    threading.stack_size(256 * 1024)
    t = threading.Thread(target=body)
    t.start()
    t.join()
    print(json.dumps(result))
    """
)

PATHS = ["merge", "repair", "events", "partial", "error"]


@pytest.mark.parametrize("shape", ["object", "array"])
@pytest.mark.parametrize("path", PATHS)
def test_every_path_survives_the_ceiling_in_a_256_kib_thread(
    impl: ModuleType, path: str, shape: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, impl.__name__, str(MAX_DEPTH_CEILING), shape, path],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    expected_depths = {"merge": 3, "repair": 1, "events": 1, "partial": 1, "error": 1}
    assert result["ok"] == [MAX_DEPTH_CEILING - 1] * expected_depths[path], result
    # One level more: a typed limit error. Repair mode skips a chunk over the limit (a limit
    # error is not repaired); arguments over the limit only stop having a parsed value.
    over = {
        "merge": {"LimitExceededError:max_depth"},
        "repair": {"no error"},
        "events": {"LimitExceededError:max_depth"},
        "partial": {"no error"},
        # An error frame too deep to read is still an API error (its body kept as text).
        "error": {"LimitExceededError:max_depth", "StreamAPIError:"},
    }
    assert result["over"] in over[path], result


def test_max_depth_above_the_ceiling_is_rejected(impl: ModuleType) -> None:
    impl.StreamParser(max_depth=MAX_DEPTH_CEILING)
    with pytest.raises(ValueError, match="max_depth"):
        impl.StreamParser(max_depth=MAX_DEPTH_CEILING + 1)
