//! `firebreak-embedder`: the embedding engine as a command-line tool (`embed`), an
//! OpenAI-compatible service (`serve`) and a benchmark (`bench`).

mod bench_cmd;
mod cli;
mod embed_cmd;
mod serve_cmd;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let renamed = firebreak_embedder::process::adopt_renamed_env();
    let cli = cli::Cli::parse();
    firebreak_embedder::process::init_logging();
    firebreak_embedder::process::warn_renamed_env(&renamed);
    let result = match cli.command {
        cli::Command::Embed(args) => embed_cmd::run(args),
        cli::Command::Serve(args) => serve_cmd::run(args),
        cli::Command::Bench(args) => bench_cmd::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("firebreak-embedder: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
