//! Configurable limits. Every limit has a name users pass as a keyword option and that a
//! `LimitExceeded` error reports back.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitName {
    LineBytes,
    BufferBytes,
    ChoiceIndex,
    ToolCalls,
    Depth,
}

impl LimitName {
    /// The keyword option that sets this limit.
    pub fn option(self) -> &'static str {
        match self {
            LimitName::LineBytes => "max_line_bytes",
            LimitName::BufferBytes => "max_buffer_bytes",
            LimitName::ChoiceIndex => "max_choice_index",
            LimitName::ToolCalls => "max_tool_calls",
            LimitName::Depth => "max_depth",
        }
    }
}

/// Hard ceiling for `max_depth`, which bounds the nesting of every value deltafold builds (chunk
/// values, merged snapshots, error bodies, partial arguments).
///
/// The core reads, clones, compares and drops values without recursion, but some walks still
/// recurse once per level: merging of nested objects, building the Python objects, and every
/// recursive consumer of the result outside deltafold (Python's `repr`, `==`, `copy`, `json`;
/// orjson's `dumps` refuses more than 254 levels). 254 is the deepest value orjson serialises,
/// and a 256 KiB thread (musl's default, `threading.stack_size(256 * 1024)`) survives every path
/// at this depth, in debug and release builds: `limits::tests` and `tests/test_depth.py` run
/// each path at the ceiling in such a thread.
pub const DEPTH_CEILING: usize = 254;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_line_bytes: usize,
    pub max_buffer_bytes: u64,
    pub max_choice_index: u64,
    pub max_tool_calls: usize,
    pub max_depth: usize,
}

impl Limits {
    /// The defaults, defined once: `Default`, the Python keyword defaults and the reference's
    /// all read these.
    pub const DEFAULT: Limits = Limits {
        max_line_bytes: 64 << 20,
        max_buffer_bytes: 256 << 20,
        max_choice_index: 1024,
        max_tool_calls: 1024,
        max_depth: 128,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::Options;
    use crate::driver::{Config, OnError};
    use crate::error::ErrorKind;
    use crate::formats::chat::ChatStream;
    use crate::json::partial::PartialJson;
    use crate::json::value::Value;

    /// The smallest stack a caller may run deltafold on: the default of some C runtimes' (musl)
    /// threads, and what `threading.stack_size(256 * 1024)` gives a Python thread.
    const SMALL_STACK: usize = 256 * 1024;

    /// An object nested `levels` deep: `{"a":{"a":...{"a":1}...}}`.
    fn nested_object(levels: usize) -> String {
        format!("{}1{}", "{\"a\":".repeat(levels), "}".repeat(levels))
    }

    /// An array nested `levels` deep: `[[...[1]...]]`.
    fn nested_array(levels: usize) -> String {
        format!("{}1{}", "[".repeat(levels), "]".repeat(levels))
    }

    fn config(depth: usize, on_error: OnError, partial_arguments: bool) -> Config {
        Config {
            on_error,
            options: Options {
                events: true,
                partial_arguments,
            },
            limits: Limits {
                max_depth: depth,
                ..Limits::default()
            },
            ..Config::default()
        }
    }

    fn value_depth(v: &Value) -> usize {
        let mut deepest = 0;
        let mut todo = vec![(v, 0)];
        while let Some((v, d)) = todo.pop() {
            deepest = deepest.max(d);
            match v {
                Value::Array(items) => todo.extend(items.iter().map(|i| (i, d + 1))),
                Value::Object(m) => todo.extend(m.values().map(|i| (i, d + 1))),
                _ => {}
            }
        }
        deepest
    }

    /// Runs every path that walks a JSON value recursively at `depth`, the top-level chunk
    /// object counting as 1: chunk parse (known and unknown keys), deep merge of top-level,
    /// choice and usage objects, repair, partial arguments, error bodies, snapshots, and
    /// dropping all of it.
    fn exercise_every_recursive_path(depth: usize) {
        chunk_parse_merge_snapshot(depth);
        depth_limit_error(depth);
        repair(depth);
        partial_arguments(depth);
        error_body(depth);
    }

    fn chunk_parse_merge_snapshot(depth: usize) {
        // Chunk parse and merge: the same deep key twice, so the second merges into the first.
        let extra = nested_object(depth - 1);
        let choice_extra = nested_array(depth - 3); // chunk > choices > choice > value
        let usage = nested_object(depth - 2); // chunk > usage > value
        let chunk = format!(
            r#"{{"id":"c","x":{extra},"usage":{{"d":{usage}}},"choices":[{{"index":0,"delta":{{"content":"hi"}},"y":{choice_extra}}}]}}"#
        );
        let mut data = Vec::new();
        for _ in 0..2 {
            data.extend_from_slice(format!("data: {chunk}\n\n").as_bytes());
        }
        data.extend_from_slice(b"data: [DONE]\n\n");
        let mut s = ChatStream::new(config(depth, OnError::Raise, false));
        assert!(s.feed(&data).is_ok());
        let events = s.take_events();
        let snapshot = s.snapshot();
        let done = s.finish();
        let done = done.ok().flatten();
        assert_eq!(done.as_ref().map(value_depth), Some(depth));
        assert_eq!(value_depth(&snapshot), depth);
        drop((events, snapshot, done, s));
    }

    fn depth_limit_error(depth: usize) {
        // One level more is a typed error, not a crash.
        let too_deep = format!("data: {{\"x\":{}}}\n\n", nested_object(depth));
        let mut s = ChatStream::new(config(depth, OnError::Raise, false));
        let err = s.feed(too_deep.as_bytes()).err().map(|e| e.kind);
        assert!(
            matches!(
                err,
                Some(ErrorKind::Limit {
                    limit: LimitName::Depth,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    fn repair(depth: usize) {
        let extra = nested_object(depth - 1);
        // Repair: a stray `]` after the deep value.
        let broken = format!("data: {{\"id\":\"c\",\"x\":{extra}]}}\n\ndata: [DONE]\n\n");
        let mut s = ChatStream::new(config(depth, OnError::Repair, false));
        assert!(s.feed(broken.as_bytes()).is_ok());
        let done = s.finish().ok().flatten();
        assert_eq!(done.as_ref().map(value_depth), Some(depth));
        drop((done, s));
    }

    fn partial_arguments(depth: usize) {
        // Partial arguments nested to the limit, in small fragments, every snapshot read.
        let mut p = PartialJson::new(depth);
        let args = nested_array(depth);
        let mut deepest = 0;
        for piece in args.as_bytes().chunks(7) {
            p.feed(piece);
            if let Some(v) = p.snapshot().to_value() {
                deepest = deepest.max(value_depth(&v));
            }
        }
        assert_eq!(deepest, depth);
        let mut tool_stream = Vec::new();
        for piece in args.as_bytes().chunks(64) {
            let piece = String::from_utf8_lossy(piece);
            let chunk = format!(
                r#"data: {{"choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":"{piece}"}}}}]}}}}]}}"#
            );
            tool_stream.extend_from_slice(chunk.as_bytes());
            tool_stream.extend_from_slice(b"\n\n");
        }
        tool_stream.extend_from_slice(b"data: [DONE]\n\n");
        let mut s = ChatStream::new(config(depth, OnError::Raise, true));
        assert!(s.feed(&tool_stream).is_ok());
        let parsed: Vec<Value> = s
            .take_events()
            .iter()
            .filter_map(|e| {
                e.parsed()
                    .and_then(super::super::json::partial::PartialSnapshot::to_value)
            })
            .collect();
        assert_eq!(parsed.iter().map(value_depth).max(), Some(depth));
        drop((parsed, s));
    }

    fn error_body(depth: usize) {
        // An in-band error whose body is nested to the limit.
        let error = format!("data: {{\"error\":{}}}\n\n", nested_object(depth - 1));
        let mut s = ChatStream::new(config(depth, OnError::Raise, false));
        let err = s.feed(error.as_bytes()).err().map(|e| e.kind);
        match err {
            Some(ErrorKind::Api { body }) => assert_eq!(value_depth(&body), depth - 1),
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    fn on_small_stack(depth: usize) {
        let worker = std::thread::Builder::new()
            .stack_size(SMALL_STACK)
            .spawn(move || exercise_every_recursive_path(depth));
        let joined = worker.map(std::thread::JoinHandle::join);
        assert!(matches!(joined, Ok(Ok(()))), "failed at depth {depth}");
    }

    #[test]
    fn the_depth_ceiling_fits_a_256_kib_thread_on_every_path() {
        on_small_stack(DEPTH_CEILING);
    }

    #[test]
    fn the_default_depth_fits_a_256_kib_thread_on_every_path() {
        on_small_stack(Limits::default().max_depth);
    }

    /// `DELTAFOLD_DEPTH_PROBE=N cargo test depth_probe -- --ignored`: how deep a 256 KiB thread
    /// survives (a stack overflow aborts the test binary, so probe one depth per run).
    #[test]
    #[ignore = "a measuring tool, run by hand when choosing DEPTH_CEILING"]
    fn depth_probe() {
        let depth = std::env::var("DELTAFOLD_DEPTH_PROBE")
            .ok()
            .and_then(|d| d.parse().ok())
            .unwrap_or(DEPTH_CEILING);
        let path: fn(usize) = match std::env::var("DELTAFOLD_DEPTH_PROBE_PATH").as_deref() {
            Ok("chunk") => chunk_parse_merge_snapshot,
            Ok("limit") => depth_limit_error,
            Ok("repair") => repair,
            Ok("partial") => partial_arguments,
            Ok("error") => error_body,
            _ => exercise_every_recursive_path,
        };
        let worker = std::thread::Builder::new()
            .stack_size(SMALL_STACK)
            .spawn(move || path(depth));
        assert!(matches!(
            worker.map(std::thread::JoinHandle::join),
            Ok(Ok(()))
        ));
    }
}
