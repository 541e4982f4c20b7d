//! The summary: one vocabulary for every format (docs/FORMATS.md, "The summary"), what a
//! gateway logs and bills on. Each format fills in its part from its result
//! ([`crate::formats::Fold::summary`]); the driver adds `status` and `error`, which only it
//! knows.

use crate::formats::Format;
use crate::json::value::{Map, Value};

/// How the stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// The end marker arrived (`[DONE]`, `message_stop`, ...).
    Complete,
    /// The input ended (so far) before the end marker.
    #[default]
    Incomplete,
    /// An in-band API error arrived.
    Failed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Complete => "complete",
            Status::Incomplete => "incomplete",
            Status::Failed => "failed",
        }
    }
}

/// Token counts, normalised: `input_tokens` counts every prompt token, cached or not, and
/// `total_tokens` is input plus output unless the provider says otherwise. `None` where the
/// stream did not say (never guessed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub total_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    pub cache_write_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
}

/// A tool call the client must answer (never a server-side tool).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ToolCall {
    pub id: Option<String>,
    pub name: Option<String>,
    /// The arguments as JSON text.
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// `None` while auto-detection has not decided: reported as `"chat"` (anything else is
    /// chat).
    pub format: Option<Format>,
    pub id: Option<String>,
    pub model: Option<String>,
    pub status: Status,
    pub finish_reason: Option<&'static str>,
    /// The provider's own stop value, raw.
    pub stop_reason: Value,
    pub usage: Usage,
    pub text: String,
    pub reasoning: String,
    pub tool_calls: Vec<ToolCall>,
    pub error: Option<Value>,
}

/// The provider stop values each normalised `finish_reason` stands for (docs/formats.md).
const STOP: [&str; 5] = ["stop", "end_turn", "stop_sequence", "STOP", "completed"];
const LENGTH: [&str; 5] = [
    "length",
    "max_tokens",
    "MAX_TOKENS",
    "max_output_tokens",
    "model_context_window_exceeded",
];
const TOOL_CALLS: [&str; 3] = ["tool_calls", "function_call", "tool_use"];
const CONTENT_FILTER: [&str; 9] = [
    "content_filter",
    "refusal",
    "SAFETY",
    "RECITATION",
    "BLOCKLIST",
    "PROHIBITED_CONTENT",
    "SPII",
    "guardrail_intervened",
    "content_filtered",
];

/// The normalised `finish_reason` of a provider's stop value: a stop whose message holds
/// client tool calls is `tool_calls`; an unknown value is `None` (the raw value stays in
/// `stop_reason`). A failed stream is `error` whatever it says (see [`Summary::settle`]).
pub fn finish_reason(raw: Option<&str>, client_tool_calls: bool) -> Option<&'static str> {
    let raw = raw?;
    if STOP.contains(&raw) {
        Some(if client_tool_calls {
            "tool_calls"
        } else {
            "stop"
        })
    } else if LENGTH.contains(&raw) {
        Some("length")
    } else if TOOL_CALLS.contains(&raw) {
        Some("tool_calls")
    } else if CONTENT_FILTER.contains(&raw) {
        Some("content_filter")
    } else {
        None
    }
}

/// A token count: an integer JSON number (anything else is no count).
pub fn count(v: Option<&Value>) -> Option<i64> {
    match v {
        Some(Value::Number(text)) => text.parse().ok(),
        _ => None,
    }
}

/// `map[key]` when `v` is an object.
pub fn field<'a>(v: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    match v {
        Some(Value::Object(m)) => m.get(key),
        _ => None,
    }
}

/// `v` as a string, `None` for anything else.
pub fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_owned)
}

/// `a + b` when both are known.
pub fn sum(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    Some(a?.saturating_add(b?))
}

impl Summary {
    /// Adds what the driver knows: whether the end marker arrived, and the in-band error. A
    /// fold that saw its stream close as failed (Responses `response.failed`) has already said
    /// `Failed`, with the error its closing event carried.
    pub fn settle(&mut self, ended: bool, error: Option<&Value>) {
        if let Some(body) = error {
            self.status = Status::Failed;
            self.error = Some(body.clone());
            self.finish_reason = Some("error");
        } else if self.status == Status::Failed {
            self.finish_reason = Some("error");
        } else if ended {
            self.status = Status::Complete;
        } else {
            self.status = Status::Incomplete;
        }
    }

    /// The summary as a dict, keys in the documented order.
    pub fn to_value(&self) -> Value {
        let opt_str = |s: &Option<String>| s.clone().map_or(Value::Null, Value::String);
        let opt_int = |n: Option<i64>| n.map_or(Value::Null, Value::int);
        let mut usage = Map::with_capacity(6);
        let u = &self.usage;
        for (k, v) in [
            ("input_tokens", u.input_tokens),
            ("output_tokens", u.output_tokens),
            ("total_tokens", u.total_tokens),
            ("cached_input_tokens", u.cached_input_tokens),
            ("cache_write_tokens", u.cache_write_tokens),
            ("reasoning_tokens", u.reasoning_tokens),
        ] {
            usage.insert(k.into(), opt_int(v));
        }
        let calls = self
            .tool_calls
            .iter()
            .map(|c| {
                let mut m = Map::with_capacity(3);
                m.insert("id".into(), opt_str(&c.id));
                m.insert("name".into(), opt_str(&c.name));
                m.insert("arguments".into(), Value::string(c.arguments.as_str()));
                Value::Object(m)
            })
            .collect();
        let mut out = Map::with_capacity(11);
        let format = self.format.unwrap_or(Format::Chat).name();
        out.insert("format".into(), Value::string(format));
        out.insert("id".into(), opt_str(&self.id));
        out.insert("model".into(), opt_str(&self.model));
        out.insert("status".into(), Value::string(self.status.name()));
        out.insert(
            "finish_reason".into(),
            self.finish_reason.map_or(Value::Null, Value::string),
        );
        out.insert("stop_reason".into(), self.stop_reason.clone());
        out.insert("usage".into(), Value::Object(usage));
        out.insert("text".into(), Value::string(self.text.as_str()));
        out.insert("reasoning".into(), Value::string(self.reasoning.as_str()));
        out.insert("tool_calls".into(), Value::Array(calls));
        out.insert("error".into(), self.error.clone().unwrap_or(Value::Null));
        Value::Object(out)
    }
}

/// The chat part of the summary, read from the `chat.completion`: choice 0's text, reasoning
/// (`reasoning_content` then `reasoning`), tool calls and legacy `function_call`.
pub fn of_chat(completion: &Value) -> Summary {
    let top = Some(completion);
    let choice = match field(top, "choices") {
        Some(Value::Array(choices)) => choices
            .iter()
            .find(|c| count(field(Some(c), "index")) == Some(0)),
        _ => None,
    };
    let message = field(choice, "message");
    let mut tool_calls = Vec::new();
    if let Some(Value::Array(calls)) = field(message, "tool_calls") {
        for call in calls {
            let function = field(Some(call), "function");
            tool_calls.push(ToolCall {
                id: text(field(Some(call), "id")),
                name: text(field(function, "name")),
                arguments: text(field(function, "arguments")).unwrap_or_default(),
            });
        }
    }
    if let Some(function) = field(message, "function_call") {
        tool_calls.push(ToolCall {
            id: None,
            name: text(field(Some(function), "name")),
            arguments: text(field(Some(function), "arguments")).unwrap_or_default(),
        });
    }
    let mut reasoning = String::new();
    for key in ["reasoning_content", "reasoning"] {
        if let Some(Value::String(s)) = field(message, key) {
            reasoning.push_str(s);
        }
    }
    let usage = field(top, "usage");
    let input = count(field(usage, "prompt_tokens"));
    let output = count(field(usage, "completion_tokens"));
    let stop_reason = field(choice, "finish_reason").cloned().unwrap_or_default();
    Summary {
        format: Some(Format::Chat),
        id: text(field(top, "id")),
        model: text(field(top, "model")),
        finish_reason: finish_reason(stop_reason.as_str(), !tool_calls.is_empty()),
        stop_reason,
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
            total_tokens: count(field(usage, "total_tokens")).or_else(|| sum(input, output)),
            cached_input_tokens: count(field(
                field(usage, "prompt_tokens_details"),
                "cached_tokens",
            )),
            cache_write_tokens: None,
            reasoning_tokens: count(field(
                field(usage, "completion_tokens_details"),
                "reasoning_tokens",
            )),
        },
        text: text(field(message, "content")).unwrap_or_default(),
        reasoning,
        tool_calls,
        ..Summary::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::reader::parse;

    #[test]
    fn finish_reasons_normalise_by_the_table() {
        assert_eq!(finish_reason(Some("end_turn"), false), Some("stop"));
        assert_eq!(finish_reason(Some("STOP"), true), Some("tool_calls"));
        assert_eq!(finish_reason(Some("max_tokens"), false), Some("length"));
        assert_eq!(finish_reason(Some("tool_use"), false), Some("tool_calls"));
        assert_eq!(finish_reason(Some("SPII"), false), Some("content_filter"));
        assert_eq!(finish_reason(Some("pause_turn"), false), None);
        assert_eq!(finish_reason(None, true), None);
    }

    #[test]
    fn chat_summary_reads_choice_zero_and_normalises_usage() {
        let completion = parse(
            br#"{"id":"c","model":"m","choices":[
              {"index":1,"message":{"content":"other"},"finish_reason":"length"},
              {"index":0,"message":{"content":"hi","reasoning_content":"r","tool_calls":[
                {"id":"t","type":"function","function":{"name":"f","arguments":"{}"}}]},
               "finish_reason":"stop"}],
             "usage":{"prompt_tokens":3,"completion_tokens":4,
                      "prompt_tokens_details":{"cached_tokens":1}}}"#,
            128,
        )
        .unwrap_or_default();
        let s = of_chat(&completion);
        assert_eq!(s.text, "hi");
        assert_eq!(s.reasoning, "r");
        assert_eq!(s.finish_reason, Some("tool_calls"));
        assert_eq!(s.stop_reason, Value::string("stop"));
        assert_eq!(s.usage.total_tokens, Some(7));
        assert_eq!(s.usage.cached_input_tokens, Some(1));
        assert_eq!(s.tool_calls.len(), 1);
    }
}
