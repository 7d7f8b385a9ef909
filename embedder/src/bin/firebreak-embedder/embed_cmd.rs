//! `embed`: stdin lines in, JSON lines out, in order. A bad line (empty, too large) gets an
//! error object on its own output line and a non-zero exit, and never stops the others.

use std::collections::VecDeque;
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;

use firebreak_embedder::{EmbedError, Embedder, Embedding, Priority};
use prometheus_client::registry::Registry;
use serde_json::json;

use crate::cli::EmbedArgs;

type Line = Result<Embedding, EmbedError>;

/// One stdin line: its text, or its length in characters when it was over the input limit.
#[derive(Clone)]
enum Input {
    Text(String),
    TooLarge(usize),
}

/// Reads one line (without its newline) keeping it only while it is at most `max`
/// characters (so at most 4 × `max` bytes are held); `None` at EOF. Characters are counted
/// as UTF-8 lead bytes, which needs no decoding of a line that is thrown away.
fn read_line_bounded(r: &mut impl BufRead, max: usize) -> std::io::Result<Option<Input>> {
    let mut kept = Vec::new();
    let mut total = 0usize;
    loop {
        let available = r.fill_buf()?;
        if available.is_empty() {
            break;
        }
        let (part, newline) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..i], Some(i)),
            None => (available, None),
        };
        let chars = part.iter().filter(|&&b| b & 0xC0 != 0x80).count();
        if total + chars <= max {
            kept.extend_from_slice(part);
        }
        total += chars;
        let consumed = newline.map_or(part.len(), |i| i + 1);
        r.consume(consumed);
        if newline.is_some() {
            return Ok(Some(finish(kept, total, max)));
        }
    }
    if total == 0 && kept.is_empty() {
        return Ok(None);
    }
    Ok(Some(finish(kept, total, max)))
}

fn finish(kept: Vec<u8>, total: usize, max: usize) -> Input {
    if total > max {
        return Input::TooLarge(total);
    }
    let mut text = String::from_utf8_lossy(&kept).into_owned();
    if text.ends_with('\r') {
        text.pop();
    }
    Input::Text(text)
}

pub fn run(args: EmbedArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let engine = Embedder::start(args.engine.config()?, &mut Registry::default())?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<Input>>(2);
        let chunk = args.chunk.max(1);
        let max_chars = args.engine.max_input_chars;
        // Read stdin on its own thread so that reading overlaps embedding. A line is never
        // held past the input limit: the rest of an oversized line is skipped unread.
        std::thread::spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = Vec::with_capacity(chunk);
            while let Ok(Some(line)) = read_line_bounded(&mut stdin, max_chars) {
                buf.push(line);
                if buf.len() == chunk && tx.blocking_send(std::mem::take(&mut buf)).is_err() {
                    return;
                }
            }
            if !buf.is_empty() {
                let _ = tx.blocking_send(buf);
            }
        });
        let mut out = BufWriter::new(std::io::stdout().lock());
        let mut in_flight: VecDeque<tokio::task::JoinHandle<Vec<Line>>> = VecDeque::new();
        let mut failed = 0usize;
        loop {
            let next = rx.recv().await;
            if let Some(inputs) = next.as_ref() {
                let e = engine.clone();
                let inputs = inputs.clone();
                in_flight.push_back(tokio::spawn(async move { embed_lines(&e, inputs).await }));
            }
            while in_flight.len() > 4 || (next.is_none() && !in_flight.is_empty()) {
                for line in in_flight.pop_front().unwrap().await? {
                    failed += write_line(&mut out, line)?;
                }
            }
            if next.is_none() {
                break;
            }
        }
        out.flush()?;
        if failed > 0 {
            eprintln!("firebreak-embedder: {failed} line(s) could not be embedded");
            return Ok(ExitCode::from(1));
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Embeds a chunk; if an input is invalid, embeds line by line so only that line fails.
async fn embed_lines(engine: &Embedder, inputs: Vec<Input>) -> Vec<Line> {
    let limit = engine.tokenizer().max_input_chars();
    let texts: Option<Vec<String>> =
        inputs.iter().map(|i| if let Input::Text(t) = i { Some(t.clone()) } else { None }).collect();
    if let Some(texts) = texts {
        match engine.embed(texts, Priority::Bulk).await {
            Ok(v) => return v.into_iter().map(Ok).collect(),
            Err(e) if !e.is_input_error() => {
                let msg = e.to_string();
                return inputs.iter().map(|_| Err(EmbedError::Inference(msg.clone()))).collect();
            }
            Err(_) => {}
        }
    }
    let mut out = Vec::with_capacity(inputs.len());
    for input in inputs {
        out.push(match input {
            Input::TooLarge(chars) => Err(EmbedError::InputTooLarge { index: 0, chars, limit }),
            Input::Text(t) => engine.embed(vec![t], Priority::Bulk).await.map(|mut v| v.remove(0)),
        });
    }
    out
}

#[derive(serde::Serialize)]
struct Output<'a> {
    embedding: &'a [f32],
    tokens: usize,
    truncated: bool,
}

fn write_line(out: &mut impl Write, line: Line) -> anyhow::Result<usize> {
    match line {
        Ok(e) => {
            // A struct, not json!(): json! widens f32 to f64 and prints 17 digits of noise.
            serde_json::to_writer(&mut *out, &Output { embedding: &e.vector, tokens: e.tokens, truncated: e.truncated })?;
            writeln!(out)?;
            Ok(0)
        }
        Err(e) => {
            let code = match &e {
                EmbedError::EmptyInput { .. } => "empty_input",
                EmbedError::InputTooLarge { .. } => "input_too_large",
                _ => "embedding_failed",
            };
            serde_json::to_writer(&mut *out, &json!({"error": code, "detail": e.to_string()}))?;
            writeln!(out)?;
            Ok(1)
        }
    }
}
