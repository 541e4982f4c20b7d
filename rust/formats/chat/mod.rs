//! OpenAI Chat Completions (`chat.completion.chunk`): the chunk scanner, the template fast path
//! and the accumulators that render the `chat.completion`.

pub mod assemble;
pub mod scan;
pub mod template;
