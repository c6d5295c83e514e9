//! The benchmark's one table: every headline figure with its unit and goal,
//! printed at the end of `cargo xtask bench` and written to
//! `docs/benchmarks.md` with the machine and the command that measured it.

use anyhow::Result;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// One figure.
pub struct Row {
    figure: String,
    value: f64,
    unit: String,
    goal: Option<String>,
}

impl Row {
    /// A ratio against a baseline measured in the same run.
    pub fn ratio(figure: String, value: f64, unit: &str, goal: Option<&str>) -> Row {
        Row {
            figure,
            value,
            unit: unit.to_string(),
            goal: goal.map(str::to_string),
        }
    }

    /// A figure in its own unit; `unit` may end with `(goal …)`.
    pub fn value(figure: String, value: f64, unit: &str) -> Row {
        let (unit, goal) = match unit.split_once("(goal ") {
            Some((unit, goal)) => (unit.trim(), Some(goal.trim_end_matches(')').to_string())),
            None if unit.starts_with("<=") || unit.starts_with(">=") => {
                ("", Some(unit.to_string()))
            }
            None => (unit, None),
        };
        Row {
            figure,
            value,
            unit: unit.to_string(),
            goal,
        }
    }

    /// Whether the value meets the goal (`<= x` or `>= x`), if there is one.
    fn met(&self) -> Option<bool> {
        let goal = self.goal.as_deref()?;
        let (op, bound) = goal.split_at(2);
        let bound: f64 = bound.trim().parse().ok()?;
        match op {
            "<=" => Some(self.value <= bound),
            ">=" => Some(self.value >= bound),
            _ => None,
        }
    }
}

/// The rows of one `cargo xtask bench`.
#[derive(Default)]
pub struct Table {
    rows: Vec<Row>,
}

impl Table {
    /// Adds a row.
    pub fn push(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// The table as Markdown.
    pub fn markdown(&self) -> String {
        let mut text =
            String::from("| figure | value | unit | goal | met |\n|---|---:|---|---|---|\n");
        for row in &self.rows {
            let value = if row.value.abs() >= 100.0 {
                format!("{:.0}", row.value)
            } else if row.value.abs() >= 1.0 {
                format!("{:.2}", row.value)
            } else {
                format!("{:.3}", row.value)
            };
            let met = match row.met() {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            text.push_str(&format!(
                "| {} | {value} | {} | {} | {met} |\n",
                row.figure,
                row.unit,
                row.goal.as_deref().unwrap_or("")
            ));
        }
        text
    }

    /// Prints the table and writes `docs/benchmarks.md`.
    pub fn finish(&self, command: &str) -> Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let table = self.markdown();
        println!("\n==> the table (also in docs/benchmarks.md)\n{table}");
        let doc = format!(
            "# Benchmarks\n\n\
             Measured by `{command}` on {machine}, {date}. Every ratio is against a baseline \
             measured in the same run on the same machine (the machines are shared and noisy: \
             compare ratios, not absolute times). `cargo xtask bench` rewrites this file.\n\n\
             {table}\n\
             Baselines: `cordon --version` for start-up; a native Rust hyper client over 16 \
             kept-alive connections making the same lookup and revocation per token for Vault \
             (built into `xtask`); sizes run one after another on fresh simulators.\n",
            machine = machine(),
            date = String::from_utf8_lossy(
                &Command::new("date")
                    .arg("-u")
                    .arg("+%Y-%m-%d %H:%M UTC")
                    .output()?
                    .stdout
            )
            .trim(),
        );
        std::fs::write(crate::root().join("docs/benchmarks.md"), doc)?;
        Ok(())
    }
}

/// The CPU model and core count.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "an unknown CPU".to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores of {model}")
}

/// Runs `command` to its end: its output, wall time, CPU time (user and
/// system) and peak resident memory in KiB, from the kernel's accounting of
/// that one process.
pub fn measured(command: &mut Command) -> Result<(Output, Duration, Duration, u64)> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value, filled in by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child, which nothing else waits for.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    if pid < 0 {
        anyhow::bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let wall = started.elapsed();
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = time(usage.ru_utime) + time(usage.ru_stime);
    let output = Output {
        status: std::process::ExitStatus::from_raw(status),
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    };
    Ok((output, wall, cpu, usage.ru_maxrss as u64))
}

/// The bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
