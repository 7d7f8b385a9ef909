//! Progress where someone can see it: a live line (indicatif) on a terminal, and in a
//! CronJob's log a structured line every 10 s, so a stuck run is visible from its log
//! without flooding it.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::run::Counts;

/// Interval of log lines when there is no terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    bar: Option<ProgressBar>,
    last_line: Instant,
}

impl Progress {
    /// A live line when `terminal`, log lines otherwise.
    pub fn new(terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let b = ProgressBar::new_spinner();
            b.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress { bar, last_line: Instant::now() }
    }

    /// Shows the counts now (terminal) or when a log line is due.
    pub fn update(&mut self, c: &Counts, waiting: Option<&str>) {
        let wait = waiting.map(|w| format!(" — waiting: {w}")).unwrap_or_default();
        match &self.bar {
            Some(b) => b.set_message(format!(
                "read {} · sent {} · unchanged {} · skipped {} · bad {} · refused {}{wait}",
                c.read, c.sent, c.unchanged, c.skipped_delivered + c.skipped_since, c.bad_inputs, c.refused
            )),
            None if self.last_line.elapsed() >= LOG_EVERY => {
                self.last_line = Instant::now();
                tracing::info!(
                    read = c.read, sent = c.sent, unchanged = c.unchanged, skipped = c.skipped_delivered + c.skipped_since,
                    bad = c.bad_inputs, refused = c.refused, waiting = waiting.unwrap_or(""), "ingest progress"
                );
            }
            None => {}
        }
    }

    /// Clears the live line.
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
