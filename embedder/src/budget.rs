//! The CPU budget: a dedicated thread pool that all tokenization and inference run on.
//!
//! The seed incident was an embedder that used every core of a shared node. Here the
//! engine's heavy work is confined to `threads` OS threads, whatever the load: matmuls,
//! attention and row kernels split only across this pool, and the callers (async tasks,
//! the device worker) wait without spinning. More load makes the queue longer, never the
//! node hotter.

use std::sync::Arc;

use crate::error::{EmbedError, Result};

/// The default budget: all cores but one (at least one), so the node keeps a core for
/// the kubelet, probes and the rest of the process. `available_parallelism` honours the
/// cgroup CPU quota and affinity mask, so in a pod "cores" means the pod's limit.
pub fn default_cpu_threads() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    cores.saturating_sub(1).max(1)
}

/// A fixed-size pool of inference threads.
#[derive(Clone)]
pub struct CpuBudget {
    pool: Arc<rayon::ThreadPool>,
    threads: usize,
}

impl CpuBudget {
    /// Starts `threads` worker threads named `fb-embed-N`.
    pub fn new(threads: usize) -> Result<Self> {
        if threads == 0 {
            return Err(EmbedError::Inference("cpu threads must be at least 1".into()));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("fb-embed-{i}"))
            .build()
            .map_err(|e| EmbedError::Inference(format!("cannot start the inference pool: {e}")))?;
        Ok(CpuBudget { pool: Arc::new(pool), threads })
    }

    /// Number of threads in the budget.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `f` on the pool, blocking the calling thread (which does not spin) until done.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }

    /// Runs `f` on the pool and hands its result to an async caller.
    pub async fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Result<R> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.pool.spawn(move || {
            let _ = tx.send(f());
        });
        rx.await.map_err(|_| EmbedError::ShuttingDown)
    }
}
