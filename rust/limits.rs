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

/// Hard ceiling for `max_depth`: the JSON reader recurses once per nesting level, so the stack
/// bounds how deep a caller may allow. 4096 levels stay far below a 1 MiB thread stack.
pub const DEPTH_CEILING: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_line_bytes: usize,
    pub max_buffer_bytes: u64,
    pub max_choice_index: u64,
    pub max_tool_calls: usize,
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 64 << 20,
            max_buffer_bytes: 256 << 20,
            max_choice_index: 1024,
            max_tool_calls: 1024,
            max_depth: 128,
        }
    }
}
