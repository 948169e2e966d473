//! Who writes a run: the program, its process id, the machine (host name and boot id) and the
//! process's start time, so that a reader on the same machine can tell whether that writer
//! still runs (a process id alone can be reused) and a reader elsewhere at least knows where it
//! runs.

use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The longest system file read here (`/proc/PID/stat`, the host name, the boot id).
const MAX_PROC_FILE_BYTES: u64 = 64 * 1024;

/// The writer of a run, as its status file records it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WriterId {
    /// `studio` or `train`.
    pub program: String,
    /// The process id.
    pub pid: u32,
    /// The machine's host name.
    pub host: String,
    /// The machine's boot id (Linux), so a reboot tells that every process of before is gone.
    pub boot_id: String,
    /// When the process started, in clock ticks since boot (Linux `/proc/PID/stat`), so a
    /// reused process id is not mistaken for the writer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
}

/// Whether a writer's process still runs, as far as this machine can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// It runs (on this machine).
    Running,
    /// It is gone: this machine rebooted since, or no such process runs.
    Gone,
    /// It runs on another machine (or this one cannot tell): only its heartbeat says.
    Unknown,
}

impl WriterId {
    /// This process, as the writer `program` ("studio" or "train").
    pub fn this_process(program: &str) -> WriterId {
        let pid = std::process::id();
        WriterId {
            program: program.to_string(),
            pid,
            host: this_host().to_string(),
            boot_id: this_boot_id().to_string(),
            start_ticks: start_ticks(pid),
        }
    }

    /// Whether the writer runs (or ran) on this machine: the same host name.
    pub fn is_this_machine(&self) -> bool {
        self.host == this_host()
    }

    /// Whether the writer is this very process.
    pub fn is_this_process(&self) -> bool {
        self.is_this_machine()
            && self.pid == std::process::id()
            && self.same_boot()
            && self.start_ticks == start_ticks(self.pid)
    }

    fn same_boot(&self) -> bool {
        self.boot_id.is_empty() || this_boot_id().is_empty() || self.boot_id == this_boot_id()
    }

    /// Whether the writer's process still runs: known on this machine where `/proc` tells,
    /// unknown elsewhere.
    pub fn liveness(&self) -> Liveness {
        if !self.is_this_machine() || !Path::new("/proc/self/stat").exists() {
            return Liveness::Unknown;
        }
        if !self.same_boot() {
            return Liveness::Gone;
        }
        match start_ticks(self.pid) {
            None => Liveness::Gone,
            Some(ticks) if self.start_ticks.is_some_and(|t| t != ticks) => Liveness::Gone,
            Some(_) => Liveness::Running,
        }
    }

    /// `train (pid 1234) on gpu-box` for messages.
    pub fn describe(&self) -> String {
        let program = if self.program.is_empty() {
            "a writer"
        } else {
            &self.program
        };
        format!("{program} (pid {}) on {}", self.pid, self.host)
    }
}

/// This machine's host name (`unknown-host` where none can be read).
pub fn this_host() -> &'static str {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        read_small("/proc/sys/kernel/hostname")
            .or_else(|| read_small("/etc/hostname"))
            .or_else(|| std::env::var("HOSTNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".to_string())
    })
}

/// This boot's id (empty where the system does not say).
fn this_boot_id() -> &'static str {
    static BOOT: OnceLock<String> = OnceLock::new();
    BOOT.get_or_init(|| {
        read_small("/proc/sys/kernel/random/boot_id")
            .map(|b| b.trim().to_string())
            .unwrap_or_default()
    })
}

/// When process `pid` started (clock ticks since boot), if it runs and `/proc` says.
fn start_ticks(pid: u32) -> Option<u64> {
    let stat = read_small(&format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let after = stat.rsplit_once(')')?.1;
    // Fields from 3 on; the start time is field 22.
    after.split_whitespace().nth(19)?.parse().ok()
}

fn read_small(path: &str) -> Option<String> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_PROC_FILE_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_runs_and_an_ended_one_is_gone() {
        let me = WriterId::this_process("test");
        assert!(me.is_this_process());
        if !Path::new("/proc/self/stat").exists() {
            return;
        }
        assert!(me.start_ticks.is_some());
        assert_eq!(me.liveness(), Liveness::Running);
        let mut child = std::process::Command::new("true")
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let pid = child.id();
        child.wait().unwrap_or_else(|e| panic!("{e}"));
        let dead = WriterId { pid, ..me.clone() };
        assert_eq!(dead.liveness(), Liveness::Gone);
        // The same pid with another start time is another process.
        let reused = WriterId {
            start_ticks: me.start_ticks.map(|t| t + 1),
            ..me.clone()
        };
        assert_eq!(reused.liveness(), Liveness::Gone);
        let rebooted = WriterId {
            boot_id: "another-boot".into(),
            ..me.clone()
        };
        assert_eq!(rebooted.liveness(), Liveness::Gone);
        let remote = WriterId {
            host: format!("{}-elsewhere", me.host),
            ..me
        };
        assert_eq!(remote.liveness(), Liveness::Unknown);
    }
}
