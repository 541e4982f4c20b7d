//! Rust-side benchmark of the core, without Python: `cargo bench --no-default-features`.
//!
//! Synthesises live-API-shaped streams (header, role chunk, content or argument chunks with an
//! obfuscation string, finish chunk, usage chunk, `[DONE]`), feeds them in 4 KiB reads and
//! reports the median of interleaved rounds for: framing alone, full assembly, and full
//! assembly with events. For instruction counts, run the binary under
//! `valgrind --tool=callgrind` (stable on shared machines, unlike wall time).

use std::hint::black_box;
use std::time::Instant;

use deltafold::driver::{Config, Options};
use deltafold::formats::chat::ChatStream;
use deltafold::framing::sse::Framer;

const HEADER: &str = r#"{"id":"chatcmpl-AbCdEfGhIjKlMnOpQrStUvWxYz012","object":"chat.completion.chunk","created":1763524061,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_2682657fcb","choices":"#;

/// A small deterministic generator (xorshift), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const WORDS: [&str; 12] = [
    " the",
    " stream",
    " of",
    " tokens",
    " café",
    " 東京",
    " arrives",
    ",",
    " \\\"quoted\\\"",
    " fast",
    "\\n",
    " 🚀",
];

fn event(out: &mut String, body: &str, obfuscation: &str) {
    out.push_str("data: ");
    out.push_str(HEADER);
    out.push_str(body);
    out.push_str(r#","usage":null,"obfuscation":""#);
    out.push_str(obfuscation);
    out.push_str("\"}\n\n");
}

fn text_stream(rng: &mut Rng, chunks: usize) -> String {
    let mut s = String::new();
    event(
        &mut s,
        r#"[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"#,
        "abc",
    );
    for _ in 0..chunks {
        let word = WORDS[rng.below(WORDS.len() as u64) as usize];
        let body = format!(
            r#"[{{"index":0,"delta":{{"content":"{word}"}},"logprobs":null,"finish_reason":null}}]"#
        );
        let pad = "x".repeat(rng.below(16) as usize);
        event(&mut s, &body, &pad);
    }
    event(
        &mut s,
        r#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]"#,
        "q",
    );
    s.push_str("data: ");
    s.push_str(HEADER);
    s.push_str(r#"[],"usage":{"prompt_tokens":29,"completion_tokens":17,"total_tokens":46}}"#);
    s.push_str("\n\ndata: [DONE]\n\n");
    s
}

fn tool_stream(rng: &mut Rng, fragments: usize) -> String {
    let mut s = String::new();
    event(
        &mut s,
        r#"[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}]"#,
        "abc",
    );
    let args = r#"{\"location\": \"Reykjavík\", \"unit\": \"celsius\", \"days\": 3}"#;
    let bytes: Vec<char> = args.chars().collect();
    let mut i = 0;
    for _ in 0..fragments {
        let n = 1 + rng.below(8) as usize;
        let mut piece: String = bytes.iter().cycle().skip(i).take(n).collect();
        // Never end a fragment inside an escape.
        while piece.ends_with('\\') {
            piece.pop();
        }
        i += piece.chars().count().max(1);
        let body = format!(
            r#"[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":"{piece}"}}}}]}},"logprobs":null,"finish_reason":null}}]"#
        );
        event(&mut s, &body, "pad");
    }
    event(
        &mut s,
        r#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]"#,
        "q",
    );
    s.push_str("data: [DONE]\n\n");
    s
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A measured case: its name and what it runs over the corpus.
type Case = (&'static str, fn(&[u8]));

fn main() {
    let mut rng = Rng(0x5eed);
    let streams: Vec<(String, String)> = (0..60)
        .map(|i| {
            if i % 4 == 3 {
                ("tools".to_string(), tool_stream(&mut rng, 200 + i * 5))
            } else {
                ("text".to_string(), text_stream(&mut rng, 100 + i * 20))
            }
        })
        .collect();
    let total: usize = streams.iter().map(|(_, s)| s.len()).sum();
    let cases: [Case; 3] = [
        ("framing only", |data| {
            let mut f = Framer::new(64 << 20);
            let mut n = 0usize;
            for piece in data.chunks(4096) {
                let _ = f.feed(piece, |e| {
                    n += e.data.len();
                    Ok::<(), ()>(())
                });
            }
            black_box(n);
        }),
        ("assemble", |data| {
            let mut s = ChatStream::new(Config::default());
            for piece in data.chunks(4096) {
                let _ = s.feed(piece);
            }
            let _ = black_box(s.finish());
        }),
        ("assemble with events", |data| {
            let config = Config {
                options: Options {
                    events: true,
                    partial_arguments: false,
                },
                ..Config::default()
            };
            let mut s = ChatStream::new(config);
            for piece in data.chunks(4096) {
                let _ = s.feed(piece);
                black_box(s.take_events());
            }
            let _ = black_box(s.finish());
        }),
    ];
    let rounds = 15;
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in cases.iter().enumerate() {
            let t = Instant::now();
            for (_, s) in &streams {
                run(s.as_bytes());
            }
            times[i].push(t.elapsed().as_secs_f64());
        }
    }
    println!(
        "corpus: {} streams, {:.1} MB; median of {rounds} interleaved rounds",
        streams.len(),
        total as f64 / 1e6
    );
    for ((name, _), t) in cases.iter().zip(times) {
        let m = median(t);
        println!("{name:24} {:8.1} MB/s", total as f64 / m / 1e6);
    }
}
