//! Live progress of a run on a terminal.

use cordon_engine::Event;
use cordon_types::ActionStatus;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Shows engine events: a progress bar on a terminal, and a line for every
/// action that did not succeed.
pub struct Progress {
    sender: mpsc::UnboundedSender<Event>,
    task: JoinHandle<()>,
}

impl Progress {
    /// Starts showing progress (`enabled = false` swallows events, for `--json`).
    pub fn start(enabled: bool) -> Progress {
        let (sender, mut events) = mpsc::unbounded_channel::<Event>();
        let task = tokio::spawn(async move {
            let terminal = std::io::stderr().is_terminal();
            let mut bar: Option<ProgressBar> = None;
            while let Some(event) = events.recv().await {
                if !enabled {
                    continue;
                }
                match event {
                    Event::Planned { run_id, nodes } => {
                        if terminal {
                            let b = ProgressBar::new(nodes as u64);
                            b.set_style(
                                ProgressStyle::with_template(
                                    "{spinner} {prefix} [{bar:30}] {pos}/{len} {msg}",
                                )
                                .expect("valid template")
                                .progress_chars("=> "),
                            );
                            b.set_prefix(run_id);
                            bar = Some(b);
                        }
                    }
                    Event::NodeFinished {
                        step,
                        target,
                        status,
                        detail,
                    } => {
                        let line = format!("{step} {target}: {} — {detail}", status.as_str());
                        let noteworthy = !status.is_success() && status != ActionStatus::Running;
                        match &bar {
                            Some(b) => {
                                b.inc(1);
                                b.set_message(format!("{step} {target}"));
                                if noteworthy {
                                    b.println(line);
                                }
                            }
                            None if noteworthy => warnln!("{line}"),
                            None => {}
                        }
                    }
                }
            }
            if let Some(b) = bar {
                b.finish_and_clear();
            }
        });
        Progress { sender, task }
    }

    /// Where the engine sends its events.
    pub fn sender(&self) -> mpsc::UnboundedSender<Event> {
        self.sender.clone()
    }

    /// Waits until every event sent so far is shown, then clears the bar.
    pub async fn finish(self) {
        drop(self.sender);
        let _ = self.task.await;
    }
}
