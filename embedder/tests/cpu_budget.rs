//! The CPU budget holds under load: `firebreak-embedder embed --cpu-threads 1` fed endless
//! work never uses more than one core, while `--cpu-threads 2` on the same
//! input does use two (so the measurement can see a breach). Process CPU time is read
//! from /proc while the child runs.

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().ok()? + fields[12].parse::<f64>().ok()?;
    Some(ticks / 100.0) // USER_HZ is 100 on Linux
}

/// Runs `embed` over a workload and returns (peak cores over 1 s windows, mean cores).
fn cores_used(threads: usize) -> (f64, f64) {
    let text = "KubePodCrashLooping: pod cardboard-web restarting after an OOM kill on node02, load 153. ".repeat(8);
    let mut child = Command::new(env!("CARGO_BIN_EXE_firebreak-embedder"))
        .args(["embed", "--cpu-threads", &threads.to_string(), "--model"])
        .arg(common::model_dir())
        .env("FIREBREAK_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdin = child.stdin.take().unwrap();
    // An endless supply, so that no engine is fast enough to run out of work inside the
    // sampling window (400 lines once did, on AMX, and the window saw an idle process);
    // the writer stops when the child is killed and the pipe breaks.
    std::thread::spawn(move || {
        for i in 0.. {
            if stdin.write_all(format!("{i} {text}\n").as_bytes()).is_err() {
                break;
            }
        }
    });
    // Skip model loading, then sample for a bounded time.
    std::thread::sleep(Duration::from_millis(1500));
    let (start, cpu0) = (Instant::now(), cpu_seconds(pid).unwrap());
    let (mut last_t, mut last_cpu, mut peak) = (start, cpu0, 0f64);
    let mut end = (start, cpu0);
    while start.elapsed() < Duration::from_secs(8) {
        std::thread::sleep(Duration::from_millis(1000));
        let Some(cpu) = cpu_seconds(pid) else { break };
        let now = Instant::now();
        peak = peak.max((cpu - last_cpu) / now.duration_since(last_t).as_secs_f64());
        (last_t, last_cpu) = (now, cpu);
        end = (now, cpu);
    }
    let _ = child.kill();
    let _ = child.wait();
    let mean = (end.1 - cpu0) / end.0.duration_since(start).as_secs_f64();
    (peak, mean)
}

#[test]
fn inference_never_uses_more_cores_than_its_budget() {
    let (peak, mean) = cores_used(1);
    println!("--cpu-threads 1: peak {peak:.2} cores, mean {mean:.2}");
    // 0.1 of slack for the reader/writer threads and clock-tick granularity.
    assert!(peak <= 1.10, "budget of 1 thread, but {peak:.2} cores were busy in a 1 s window");
    assert!(mean >= 0.6, "the workload should keep the one thread busy (mean {mean:.2})");

    if std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) >= 2 {
        let (peak2, mean2) = cores_used(2);
        println!("--cpu-threads 2: peak {peak2:.2} cores, mean {mean2:.2}");
        assert!(peak2 > 1.3, "with 2 threads the same load should use more than one core ({peak2:.2}): the check can see a breach");
    }
}
