//! Who runs on the CPU budget next, when a chat model shares it with the embeddings.
//!
//! Both run on the same pool of `--cpu-threads` threads ([`crate::budget`]), so a chat
//! model never adds cores to the node's load. But a generation is hundreds of steps, and
//! an alert's or a search's embedding must not wait behind a whole answer; nor may an
//! answer — someone waiting during an incident — starve behind a seven-hour bulk ingest.
//! So the pool is taken one unit of work at a time (an embedding batch, or one generation
//! step: a chunk of the prompt or one new token), and:
//! - an interactive or alert batch that waits goes first ([`DeviceGate::urgent`]): it is
//!   delayed by at most the one step already running;
//! - a bulk batch and a generation step take turns ([`DeviceGate::shared`]): each gets
//!   the pool every other time when both wait, so neither starves the other.

use std::sync::{Condvar, Mutex};

/// The two kinds of work that share the pool turn about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shared {
    BulkBatch,
    GenerationStep,
}

/// The turn-taking.
#[derive(Default)]
pub struct DeviceGate {
    state: Mutex<State>,
    turn: Condvar,
}

#[derive(Default)]
struct State {
    busy: bool,
    /// Interactive and alert batches waiting: everything else waits while any do.
    urgent_waiting: usize,
    bulk_waiting: usize,
    generation_waiting: usize,
    /// Which shared kind ran last: when both wait, the other goes.
    last_shared: Option<Shared>,
}

/// The pool is held until this is dropped.
pub struct Turn<'a> {
    gate: &'a DeviceGate,
}

impl DeviceGate {
    /// Waits for the pool as an interactive or alert batch: ahead of everything else.
    pub fn urgent(&self) -> Turn<'_> {
        let mut s = self.lock();
        s.urgent_waiting += 1;
        while s.busy {
            s = self.turn.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        s.urgent_waiting -= 1;
        s.busy = true;
        Turn { gate: self }
    }

    /// Waits for the pool as a bulk batch or a generation step: after urgent batches, and
    /// turn about with the other kind.
    pub fn shared(&self, kind: Shared) -> Turn<'_> {
        let mut s = self.lock();
        *s.waiting(kind) += 1;
        loop {
            let other = match kind {
                Shared::BulkBatch => s.generation_waiting,
                Shared::GenerationStep => s.bulk_waiting,
            };
            let others_turn = other > 0 && s.last_shared == Some(kind);
            if !s.busy && s.urgent_waiting == 0 && !others_turn {
                break;
            }
            s = self.turn.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        *s.waiting(kind) -= 1;
        s.busy = true;
        s.last_shared = Some(kind);
        Turn { gate: self }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    fn waiting(&mut self, kind: Shared) -> &mut usize {
        match kind {
            Shared::BulkBatch => &mut self.bulk_waiting,
            Shared::GenerationStep => &mut self.generation_waiting,
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        self.gate.lock().busy = false;
        self.gate.turn.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::{DeviceGate, Shared};

    /// Starts a waiter that records its name when it gets the pool, holding it briefly.
    fn waiter(gate: &Arc<DeviceGate>, order: &Arc<Mutex<Vec<&'static str>>>, name: &'static str, kind: Option<Shared>) -> std::thread::JoinHandle<()> {
        let (gate, order) = (gate.clone(), order.clone());
        let h = std::thread::spawn(move || {
            let _turn = match kind {
                None => gate.urgent(),
                Some(k) => gate.shared(k),
            };
            order.lock().unwrap().push(name);
            std::thread::sleep(Duration::from_millis(5));
        });
        std::thread::sleep(Duration::from_millis(30)); // it is waiting now
        h
    }

    #[test]
    fn urgent_batches_go_first_and_bulk_and_generation_take_turns() {
        let gate = Arc::new(DeviceGate::default());
        let order = Arc::new(Mutex::new(Vec::new()));
        let step = gate.shared(Shared::GenerationStep);
        let waiters = [
            waiter(&gate, &order, "bulk", Some(Shared::BulkBatch)),
            waiter(&gate, &order, "step", Some(Shared::GenerationStep)),
            waiter(&gate, &order, "alert", None),
        ];
        drop(step);
        for w in waiters {
            w.join().unwrap();
        }
        // The alert first; then bulk, since a generation step ran last; then the step.
        assert_eq!(*order.lock().unwrap(), vec!["alert", "bulk", "step"]);
    }
}
