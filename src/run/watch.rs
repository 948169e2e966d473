//! The studio's runs thread: a [`crate::service`] thread that does every read (and the one
//! delete) of run folders the studio needs, so the UI thread never touches a file. It lists the
//! runs (again every [`LIST_EVERY`] while the list is shown), says what a path the user picked
//! is, follows one run written by another process (every [`FOLLOW_EVERY`]: its state file, a
//! new checkpoint's history, new grids, the log's last complete line), reads a run's grids and
//! history, deletes a run nobody writes, and at launch brings the previous versions' autosave
//! into a run and finds the crashed runs.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use super::clock::now_unix_ms;
use super::files::RunFiles;
use super::reader::{self, RunSummary};
use super::status::{RunState, RunStatus};
use super::{RunError, RunWriter, WriterOptions, DEFAULT_AUTOSAVE_EVERY, RUNS_DIR};
use crate::model::{ModelConfig, SampleGrid};
use crate::service::{Outbox, RepaintFn, Service, ServiceSpec};
use crate::train::{History, SampleStamp, TrainConfig, Trainer};

/// How often a followed run is looked at.
pub const FOLLOW_EVERY: Duration = Duration::from_millis(500);
/// How often the shown list of runs is read again.
pub const LIST_EVERY: Duration = Duration::from_secs(2);
/// The file name of the single autosave of versions before run folders.
pub const LEGACY_AUTOSAVE_FILE: &str = "autosave.safetensors";

/// What the studio asks the runs thread.
#[derive(Clone, Debug, PartialEq)]
pub enum RunsCommand {
    /// List the runs in `root` and the folders in `added` now, and again every
    /// [`LIST_EVERY`] (sent when they changed) until [`RunsCommand::StopListing`].
    List {
        /// The studio's runs folder (`None`: there is none).
        root: Option<PathBuf>,
        /// Run folders the user added.
        added: Vec<PathBuf>,
    },
    /// Stop listing.
    StopListing,
    /// Say what `path` is: a run folder (with its summary) or a checkpoint file.
    Inspect {
        /// The path the user picked.
        path: PathBuf,
        /// Whether the user asked to resume it (echoed back).
        resume: bool,
    },
    /// Follow the run in this folder until [`RunsCommand::Unfollow`] (or another `Follow`).
    Follow(PathBuf),
    /// Stop following.
    Unfollow,
    /// Read a run's grids.
    LoadGrids(PathBuf),
    /// Read the metric history of a run folder or a checkpoint file.
    LoadHistory(PathBuf),
    /// Delete a run folder (refused while a writer holds it).
    Delete(PathBuf),
    /// At launch: bring the previous versions' autosave in `data_folder` into a run, and find
    /// the crashed runs.
    Launch {
        /// The studio's data folder (its runs are in `runs/` there).
        data_folder: PathBuf,
    },
    /// End the thread.
    Shutdown,
}

/// What a path the user picked is.
#[derive(Clone, Debug, PartialEq)]
pub enum PathKind {
    /// A run folder.
    Run(Box<RunSummary>),
    /// A checkpoint file (opened as a run with one checkpoint).
    Checkpoint,
}

/// A followed run's model as its newest checkpoint holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowedModel {
    /// The architecture.
    pub model: ModelConfig,
    /// The training settings.
    pub train: TrainConfig,
    /// The metric history.
    pub history: History,
}

/// What changed in a followed run.
#[derive(Clone, Debug, PartialEq)]
pub struct FollowUpdate {
    /// The run folder.
    pub dir: PathBuf,
    /// The run as it stands.
    pub summary: RunSummary,
    /// Its model and history, when its checkpoint changed.
    pub model: Option<FollowedModel>,
    /// Grids written since the last update, in epoch order.
    pub grids: Vec<(SampleStamp, SampleGrid)>,
    /// The log's last complete line, when it changed.
    pub log_line: Option<String>,
    /// Something could not be read this time (tried again next time).
    pub error: Option<String>,
}

/// What the runs thread reports.
#[derive(Clone, Debug, PartialEq)]
pub enum RunsEvent {
    /// The runs, newest first: those of the runs folder, then the added ones.
    Listed(Vec<RunSummary>),
    /// What a picked path is.
    Inspected {
        /// The path.
        path: PathBuf,
        /// Whether the user asked to resume it.
        resume: bool,
        /// What it is, or why it is neither a run nor a checkpoint.
        result: Result<PathKind, String>,
    },
    /// A followed run changed.
    Followed(Box<FollowUpdate>),
    /// A run's grids, in epoch order.
    Grids {
        /// The run folder.
        dir: PathBuf,
        /// The grids and their stamps.
        grids: Vec<(SampleStamp, SampleGrid)>,
    },
    /// A run's metric history.
    History {
        /// The run folder or checkpoint file.
        path: PathBuf,
        /// The history, or why it could not be read.
        result: Result<History, String>,
    },
    /// A run folder was deleted (or why not).
    Deleted {
        /// The run folder.
        dir: PathBuf,
        /// Whether it worked.
        result: Result<(), String>,
    },
    /// The launch's look at the runs.
    Launched {
        /// The run the previous versions' autosave became, if there was one.
        imported: Option<PathBuf>,
        /// The crashed runs, the most recently written first.
        crashed: Vec<RunSummary>,
        /// Why the autosave could not be brought in, if it could not.
        error: Option<String>,
    },
    /// The thread failed (a bug): the message says so.
    Failed(String),
}

/// The runs thread's name.
pub const THREAD_NAME: &str = "pixelcnn-runs";

/// The runs thread as a service.
pub const SPEC: ServiceSpec<RunsCommand, RunsEvent> = ServiceSpec {
    thread_name: THREAD_NAME,
    description: "the runs thread",
    command_capacity: 64,
    event_capacity: 64,
    shutdown: || RunsCommand::Shutdown,
    panicked: |message| {
        RunsEvent::Failed(format!("the runs thread hit a bug and ended: {message}"))
    },
};

/// The studio's handle on the runs thread. Dropping it ends and joins the thread.
pub type RunsService = Service<RunsCommand, RunsEvent>;

/// Starts the runs thread; `repaint` is called after each event it sends.
pub fn spawn(repaint: RepaintFn) -> anyhow::Result<RunsService> {
    Service::start(SPEC, repaint, runs_main)
}

/// The run being followed and what was already sent of it.
struct Followed {
    dir: PathBuf,
    last: Option<(RunStatus, RunState)>,
    size_bytes: u64,
    checkpoint: Option<(Option<u64>, Option<u64>)>,
    grids_seen: HashSet<String>,
    log_line: Option<String>,
    /// The read error last reported (reported once until it changes).
    error_shown: Option<String>,
}

struct Watcher {
    outbox: Outbox<RunsEvent>,
    alive: bool,
    listing: Option<(Option<PathBuf>, Vec<PathBuf>)>,
    listed: Option<Vec<RunSummary>>,
    next_list: Instant,
    followed: Option<Followed>,
    next_follow: Instant,
}

fn runs_main(commands: Receiver<RunsCommand>, outbox: Outbox<RunsEvent>) {
    let mut watcher = Watcher {
        outbox,
        alive: true,
        listing: None,
        listed: None,
        next_list: Instant::now(),
        followed: None,
        next_follow: Instant::now(),
    };
    while watcher.alive {
        let wake = [
            watcher.listing.as_ref().map(|_| watcher.next_list),
            watcher.followed.as_ref().map(|_| watcher.next_follow),
        ]
        .into_iter()
        .flatten()
        .min();
        let command = match wake {
            Some(at) => commands.recv_timeout(at.saturating_duration_since(Instant::now())),
            None => commands.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match command {
            Ok(RunsCommand::Shutdown) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(command) => watcher.handle(command),
            Err(RecvTimeoutError::Timeout) => {}
        }
        watcher.poll();
    }
}

impl Watcher {
    fn send(&mut self, event: RunsEvent) {
        if !self.outbox.send(event) {
            self.alive = false;
        }
    }

    fn handle(&mut self, command: RunsCommand) {
        match command {
            RunsCommand::List { root, added } => {
                self.listing = Some((root, added));
                self.listed = None;
                self.next_list = Instant::now();
            }
            RunsCommand::StopListing => self.listing = None,
            RunsCommand::Inspect { path, resume } => {
                let result = inspect(&path);
                self.send(RunsEvent::Inspected {
                    path,
                    resume,
                    result,
                });
            }
            RunsCommand::Follow(dir) => {
                self.followed = Some(Followed {
                    dir,
                    last: None,
                    size_bytes: 0,
                    checkpoint: None,
                    grids_seen: HashSet::new(),
                    log_line: None,
                    error_shown: None,
                });
                self.next_follow = Instant::now();
            }
            RunsCommand::Unfollow => self.followed = None,
            RunsCommand::LoadGrids(dir) => {
                let grids = read_new_grids(&dir, &mut HashSet::new()).0;
                self.send(RunsEvent::Grids { dir, grids });
            }
            RunsCommand::LoadHistory(path) => {
                let result = load_history(&path);
                self.send(RunsEvent::History { path, result });
            }
            RunsCommand::Delete(dir) => {
                let result = super::writer::delete_run_folder(&dir);
                // The list shows it gone at once.
                self.next_list = Instant::now();
                self.send(RunsEvent::Deleted { dir, result });
            }
            RunsCommand::Launch { data_folder } => {
                let root = data_folder.join(RUNS_DIR);
                let (imported, error) = match import_legacy_autosave(&data_folder, &root) {
                    Ok(imported) => (imported, None),
                    Err(message) => (None, Some(message)),
                };
                let mut crashed: Vec<RunSummary> = reader::list_runs(&root)
                    .into_iter()
                    .filter(|run| run.state == RunState::Crashed)
                    .collect();
                crashed.sort_by_key(|run| std::cmp::Reverse(last_written_ms(run)));
                self.send(RunsEvent::Launched {
                    imported,
                    crashed,
                    error,
                });
            }
            RunsCommand::Shutdown => self.alive = false,
        }
    }

    /// Lists and follows when due.
    fn poll(&mut self) {
        let now = Instant::now();
        if let Some((root, added)) = &self.listing {
            if now >= self.next_list {
                let runs = list(root.as_deref(), added);
                self.next_list = now + LIST_EVERY;
                if self.listed.as_ref() != Some(&runs) {
                    self.listed = Some(runs.clone());
                    self.send(RunsEvent::Listed(runs));
                }
            }
        }
        if self.followed.is_some() && now >= self.next_follow {
            self.next_follow = now + FOLLOW_EVERY;
            let update = self.followed.as_mut().and_then(follow_once);
            if let Some(update) = update {
                self.send(RunsEvent::Followed(Box::new(update)));
            }
        }
    }
}

/// The runs of `root` and the `added` folders (each once).
fn list(root: Option<&Path>, added: &[PathBuf]) -> Vec<RunSummary> {
    let mut runs = root.map(reader::list_runs).unwrap_or_default();
    for dir in added {
        if runs.iter().any(|run| &run.dir == dir) {
            continue;
        }
        if let Ok(run) = reader::summarize(dir) {
            runs.push(run);
        }
    }
    runs
}

/// When a run was last written (its heartbeat, or its checkpoint).
pub fn last_written_ms(run: &RunSummary) -> u64 {
    run.status
        .heartbeat_unix_ms
        .max(run.status.checkpoint_unix_ms.unwrap_or(0))
}

fn inspect(path: &Path) -> Result<PathKind, String> {
    if path.is_file() {
        return Ok(PathKind::Checkpoint);
    }
    if !path.is_dir() {
        return Err(format!(
            "there is no file or folder there: {}",
            path.display()
        ));
    }
    reader::summarize(path)
        .map(|summary| PathKind::Run(Box::new(summary)))
        .map_err(|err| format!("could not open the run: {err}"))
}

fn load_history(path: &Path) -> Result<History, String> {
    let checkpoint = if path.is_dir() {
        RunFiles::new(path).checkpoint()
    } else {
        path.to_path_buf()
    };
    crate::checkpoint::load(&checkpoint)
        .map(|snapshot| snapshot.history)
        .map_err(|err| format!("could not compare with the run: {err}"))
}

/// Reads the grids of `dir` not in `seen` (adding them to it); the second value is the first
/// grid that could not be read, if any (it is tried again next time).
fn read_new_grids(
    dir: &Path,
    seen: &mut HashSet<String>,
) -> (Vec<(SampleStamp, SampleGrid)>, Option<String>) {
    let samples = RunFiles::new(dir).samples();
    let mut grids = Vec::new();
    let mut error = None;
    for (name, stamp) in reader::grid_files(dir) {
        if seen.contains(&name) {
            continue;
        }
        match reader::read_grid(&samples.join(&name)) {
            Ok(grid) => {
                seen.insert(name);
                grids.push((stamp, grid));
            }
            Err(message) => {
                error.get_or_insert(message);
            }
        }
    }
    (grids, error)
}

/// One look at a followed run: an update when anything changed.
fn follow_once(followed: &mut Followed) -> Option<FollowUpdate> {
    let status = match RunStatus::read(&RunFiles::new(&followed.dir).status()) {
        Ok(status) => status,
        Err(err) => {
            let message = err.to_string();
            if followed.error_shown.as_deref() == Some(message.as_str()) {
                return None;
            }
            followed.error_shown = Some(message.clone());
            followed.last = None;
            return Some(FollowUpdate {
                dir: followed.dir.clone(),
                summary: RunSummary {
                    dir: followed.dir.clone(),
                    status: RunStatus::default(),
                    state: RunState::Stopped,
                    why: None,
                    size_bytes: 0,
                },
                model: None,
                grids: Vec::new(),
                log_line: None,
                error: Some(message),
            });
        }
    };
    let (state, why) = status.effective_state(now_unix_ms());
    let status_changed = followed.last.as_ref() != Some(&(status.clone(), state));
    let mut error = None;
    let checkpoint_key = (status.checkpoint_step, status.checkpoint_unix_ms);
    let model = if followed.checkpoint != Some(checkpoint_key) {
        match reader::load_checkpoint(&followed.dir) {
            Ok(snapshot) => {
                followed.checkpoint = Some(checkpoint_key);
                Some(FollowedModel {
                    model: snapshot.model,
                    train: snapshot.config,
                    history: snapshot.history,
                })
            }
            Err(err) => {
                error = Some(err.to_string());
                None
            }
        }
    } else {
        None
    };
    let (grids, grid_error) = if status_changed || followed.last.is_none() {
        read_new_grids(&followed.dir, &mut followed.grids_seen)
    } else {
        (Vec::new(), None)
    };
    error = error.or(grid_error);
    let log_line = if status_changed {
        reader::log_tail(&followed.dir, 1)
            .pop()
            .filter(|line| followed.log_line.as_ref() != Some(line))
    } else {
        None
    };
    if let Some(line) = &log_line {
        followed.log_line = Some(line.clone());
    }
    let new_error = error.is_some() && error != followed.error_shown;
    followed.error_shown.clone_from(&error);
    if !status_changed && model.is_none() && grids.is_empty() && !new_error {
        return None;
    }
    if status_changed {
        followed.size_bytes = reader::folder_size(&followed.dir);
        followed.last = Some((status.clone(), state));
    }
    Some(FollowUpdate {
        dir: followed.dir.clone(),
        summary: RunSummary {
            dir: followed.dir.clone(),
            status,
            state,
            why,
            size_bytes: followed.size_bytes,
        },
        model,
        grids,
        log_line,
        error,
    })
}

/// Brings `data_folder`'s autosave of versions before run folders into a run in `root` (a
/// stopped run with that checkpoint), then removes the old file. `Ok(None)` when there is none.
fn import_legacy_autosave(data_folder: &Path, root: &Path) -> Result<Option<PathBuf>, String> {
    let legacy = data_folder.join(LEGACY_AUTOSAVE_FILE);
    if !legacy.is_file() {
        return Ok(None);
    }
    // Renamed first, so two studios starting at once import it once.
    let claimed = data_folder.join(format!(
        ".{LEGACY_AUTOSAVE_FILE}.importing-{}",
        std::process::id()
    ));
    if std::fs::rename(&legacy, &claimed).is_err() {
        return Ok(None);
    }
    let restore = |message: String| {
        // Put it back for the next try: nothing of it is lost.
        let _ = std::fs::rename(&claimed, &legacy);
        message
    };
    let fail = |err: &dyn std::fmt::Display| {
        format!("the previous version's autosave could not be brought into a run: {err}")
    };
    let snapshot = crate::checkpoint::load(&claimed).map_err(|e| restore(fail(&e)))?;
    let trainer = Trainer::from_snapshot(snapshot).map_err(|e| restore(fail(&e)))?;
    let options = WriterOptions {
        program: "studio",
        autosave_every: DEFAULT_AUTOSAVE_EVERY,
    };
    let mut writer =
        RunWriter::create_in(root, &trainer, &options).map_err(|e| restore(fail(&e)))?;
    writer.note(&format!(
        "imported from the previous version's autosave ({})",
        legacy.display()
    ));
    let dir = writer.dir().to_path_buf();
    let closed: Result<(), RunError> = writer.close(Some(&trainer), RunState::Stopped);
    closed.map_err(|e| restore(fail(&e)))?;
    let _ = std::fs::remove_file(&claimed);
    Ok(Some(dir))
}
