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

pub fn run(args: EmbedArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        let engine = Embedder::start(args.engine.config()?, &mut Registry::default())?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<String>>(2);
        let chunk = args.chunk.max(1);
        // Read stdin on its own thread so that reading overlaps embedding.
        std::thread::spawn(move || {
            let mut buf = Vec::with_capacity(chunk);
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
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
            if let Some(lines) = next.as_ref() {
                let e = engine.clone();
                let lines = lines.clone();
                in_flight.push_back(tokio::spawn(async move { embed_lines(&e, lines).await }));
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
async fn embed_lines(engine: &Embedder, lines: Vec<String>) -> Vec<Line> {
    match engine.embed(lines.clone(), Priority::Bulk).await {
        Ok(v) => v.into_iter().map(Ok).collect(),
        Err(e) if e.is_input_error() => {
            let mut out = Vec::with_capacity(lines.len());
            for l in lines {
                out.push(engine.embed(vec![l], Priority::Bulk).await.map(|mut v| v.remove(0)));
            }
            out
        }
        Err(e) => {
            let msg = e.to_string();
            lines.iter().map(|_| Err(EmbedError::Inference(msg.clone()))).collect()
        }
    }
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
