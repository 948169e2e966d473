//! The whole UI <-> worker protocol: the commands the studio sends to the training thread
//! ([`WorkerCommand`]) and the events it gets back ([`WorkerEvent`]).

use std::path::PathBuf;
use std::time::Duration;

use crate::data::DataSource;
use crate::model::{ModelConfig, SampleGrid};
use crate::train::{EpochRecord, History, ModelSnapshot, SampleStamp, StepPoint, TrainConfig};

/// What the UI asks the worker to do. Commands are handled between two units of work (a training
/// step, a chunk of the test evaluation, an image row of a grid being drawn), so any of them takes
/// effect within one of those (well under a second for the presets on the CPU).
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerCommand {
    /// Train. With no model yet (or after [`WorkerCommand::Reset`]) a fresh model is built from
    /// `model`; when a model exists (stopped, finished or opened from a checkpoint) training
    /// continues from it with the new `train` settings, and `model` must match its architecture.
    Start {
        /// The architecture of a fresh model.
        model: ModelConfig,
        /// Training settings (epochs target, batch size, learning rate, limits, ...).
        train: TrainConfig,
        /// Where the images come from.
        data: DataSource,
        /// During the first epoch, draw a preview grid this often (`None`: only after epochs).
        preview_every: Option<Duration>,
    },
    /// Suspend training after the current unit of work; the model stays in memory.
    Pause,
    /// Continue after [`WorkerCommand::Pause`].
    Resume,
    /// End the run after the current unit of work (a grid being drawn is dropped); the model is
    /// kept and a later `Start` continues it (an interrupted test evaluation resumes first).
    Stop,
    /// Put the model away: its run folder (if any) gets its last checkpoint, is marked stopped
    /// and stays; the model and its history are forgotten here (without a run folder the UI
    /// asks before sending this for a trained model).
    Reset,
    /// Draw a grid of `count` samples from the current model now (between training steps).
    SampleNow {
        /// Images to draw (100 for the 10x10 grid).
        count: usize,
        /// The digits a conditional model draws (ignored by unconditional models).
        classes: crate::model::ClassChoice,
        /// The guidance and temperature to draw with (`None`: the model's default); like
        /// `classes`, kept for the grids of later epochs.
        style: Option<crate::model::SampleStyle>,
    },
    /// Write a copy of the current model, optimizer state and history to `path` (atomically):
    /// "Save checkpoint as...". An existing file there is replaced only with `replace`; without
    /// it the worker answers [`WorkerEvent::SaveWouldReplace`] and writes nothing. The path
    /// never becomes where the model is kept: its run folder is.
    SaveCheckpoint {
        /// Destination file.
        path: PathBuf,
        /// Replace a file that exists there (the user said yes).
        replace: bool,
    },
    /// Replace the current model with the one saved in `path` (a checkpoint file: training it
    /// makes a new run, the file is never written). On any failure the current model is kept
    /// untouched and an [`WorkerEvent::Error`] is sent.
    OpenCheckpoint {
        /// Checkpoint file to read.
        path: PathBuf,
    },
    /// Replace the current model with the latest checkpoint of the run folder `dir`, to look at
    /// it; training it (`Start`) takes the run over and continues it in its folder (refused
    /// while another writer holds it).
    OpenRun {
        /// The run folder.
        dir: PathBuf,
    },
    /// Write the run's checkpoint now (before closing: "saving..." until
    /// [`WorkerEvent::RunSaved`]).
    SaveRun,
    /// Stop whatever runs (training, evaluating, sampling), delete the model's run folder and
    /// forget the model: the user discarded the run ([`WorkerEvent::RunDiscarded`]).
    DiscardRun,
    /// Send a copy of the current weights ([`WorkerEvent::WeightsSnapshot`]) for the Explore
    /// view. Taken between two training steps; training goes on at once.
    SnapshotWeights,
    /// Deliberately panic inside the worker's guarded section (to test that panics are
    /// caught and reported); never sent by the UI.
    #[doc(hidden)]
    DebugPanic,
    /// Stop everything and end the thread (the run being written gets its last checkpoint
    /// and is marked stopped or finished).
    Shutdown,
}

/// What the worker is doing, as shown in the status bar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum WorkerState {
    /// No model yet (fresh start or after a reset).
    #[default]
    Idle,
    /// Loading the data set before training.
    Loading,
    /// Training steps are running.
    Training,
    /// The test evaluation that closes an epoch is running.
    Evaluating,
    /// Training is suspended; `Resume` continues it.
    Paused,
    /// A grid of samples is being drawn.
    Sampling,
    /// The run was stopped (or a checkpoint was opened); a model exists and `Start` continues it.
    Stopped,
    /// Every epoch asked for is done; raise the epoch count and `Start` to continue.
    Finished,
    /// The last command failed (see the last error message); the user can start again.
    Error,
}

impl WorkerState {
    /// Lower-case name for the status bar.
    pub fn label(self) -> &'static str {
        match self {
            WorkerState::Idle => "idle",
            WorkerState::Loading => "loading data",
            WorkerState::Training => "training",
            WorkerState::Evaluating => "evaluating",
            WorkerState::Paused => "paused",
            WorkerState::Sampling => "sampling",
            WorkerState::Stopped => "stopped",
            WorkerState::Finished => "finished",
            WorkerState::Error => "error",
        }
    }

    /// Whether a run is in progress (training, evaluating, paused, loading or sampling).
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            WorkerState::Loading
                | WorkerState::Training
                | WorkerState::Evaluating
                | WorkerState::Paused
                | WorkerState::Sampling
        )
    }

    /// Whether the worker is computing right now (Pause applies).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            WorkerState::Training | WorkerState::Evaluating | WorkerState::Sampling
        )
    }
}

/// Where the run stands, sent with step and epoch events.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunProgress {
    /// Completed epochs.
    pub epochs_done: usize,
    /// Epochs the run is asked to reach.
    pub epochs_target: usize,
    /// Steps done in the current epoch.
    pub step_in_epoch: usize,
    /// Minibatches per epoch.
    pub steps_per_epoch: usize,
    /// Steps done in total.
    pub global_step: u64,
    /// Training throughput over the current epoch so far.
    pub images_per_sec: f64,
    /// Images per minibatch.
    pub batch_size: usize,
}

impl RunProgress {
    /// Estimated seconds to finish the run at the current throughput (`None` when unknown).
    pub fn eta_secs(&self) -> Option<f64> {
        if self.images_per_sec <= 0.0 || self.steps_per_epoch == 0 {
            return None;
        }
        let total = self.epochs_target * self.steps_per_epoch;
        let done = self.epochs_done * self.steps_per_epoch + self.step_in_epoch;
        let left_steps = total.saturating_sub(done);
        Some(left_steps as f64 * self.batch_size as f64 / self.images_per_sec)
    }
}

/// What the worker reports. Every event send also wakes the UI (`request_repaint`).
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerEvent {
    /// The worker's state changed.
    State(WorkerState),
    /// A run began or continued with this model and these settings; `history` is the model's
    /// history so far (empty for a fresh model), so the UI can redraw its curves from it.
    Started {
        /// The architecture being trained.
        model: ModelConfig,
        /// The settings in force.
        train: TrainConfig,
        /// Metrics so far.
        history: History,
        /// Where the run stands.
        progress: RunProgress,
    },
    /// Training steps since the last `Steps` event, coalesced (at most about one event per
    /// 50 ms) so a fast trainer cannot flood the UI.
    Steps {
        /// The new step losses, oldest first.
        points: Vec<StepPoint>,
        /// Where the run stands after the last of them.
        progress: RunProgress,
    },
    /// The test evaluation closing an epoch began or moved on (at most one event per chunk).
    Evaluating {
        /// Test images evaluated so far.
        images_done: usize,
        /// Test images in all.
        images_total: usize,
    },
    /// An epoch ended and its test cost was measured.
    EpochFinished {
        /// The epoch's costs.
        record: EpochRecord,
        /// Where the run stands.
        progress: RunProgress,
    },
    /// A grid being sampled, after another image row was drawn (the canvas so far). Dropped
    /// when the UI is behind; the final grid never is.
    SampleProgress {
        /// Where the run stood when the grid was asked for, and why.
        stamp: SampleStamp,
        /// The partially drawn grid.
        grid: SampleGrid,
    },
    /// A grid of samples is complete.
    SamplesReady {
        /// Where the run stood when the grid was asked for, and why.
        stamp: SampleStamp,
        /// The samples.
        grid: SampleGrid,
    },
    /// A checkpoint was written where the user asked.
    CheckpointSaved {
        /// Where.
        path: PathBuf,
    },
    /// The run's checkpoint was written (at an epoch end, after the autosave interval of
    /// training, or when training stopped).
    Autosaved {
        /// Where.
        path: PathBuf,
        /// The model's step count in it.
        global_step: u64,
    },
    /// A checkpoint was opened and replaced the model; the UI restores its sliders, settings
    /// and curves from it.
    CheckpointOpened {
        /// Where it came from.
        path: PathBuf,
        /// The restored architecture.
        model: ModelConfig,
        /// The restored training settings.
        train: TrainConfig,
        /// The restored metrics.
        history: History,
        /// Where the restored run stands.
        progress: RunProgress,
    },
    /// The model's run folder: opened to look at (`writing: false`; training takes it over) or
    /// written by this worker (`writing: true`).
    RunAttached {
        /// The run folder.
        dir: PathBuf,
        /// The run's name.
        name: String,
        /// Whether this worker writes it (holds its lock).
        writing: bool,
    },
    /// The model has no run folder any more (reset, or a checkpoint file was opened).
    RunDetached,
    /// The run's checkpoint was written, answering [`WorkerCommand::SaveRun`].
    RunSaved {
        /// The run folder.
        dir: PathBuf,
    },
    /// The model's run folder was deleted and the model forgotten, answering
    /// [`WorkerCommand::DiscardRun`] (`dir` is `None` when the model had no run folder).
    RunDiscarded {
        /// The deleted run folder.
        dir: Option<PathBuf>,
    },
    /// [`WorkerCommand::SaveCheckpoint`] would replace an existing file: nothing was written.
    SaveWouldReplace {
        /// The file that exists.
        path: PathBuf,
    },
    /// A copy of the current weights, answering [`WorkerCommand::SnapshotWeights`] (with no
    /// model yet an [`WorkerEvent::Error`] answers instead).
    WeightsSnapshot(ModelSnapshot),
    /// The model was forgotten (after `Reset`).
    ResetDone,
    /// A one-line note for the status bar (e.g. "loaded 60000 training images").
    Message(String),
    /// Something failed: a clear message for the user. The model in memory is the last good one.
    Error(String),
    /// The run ended: all epochs done (`stopped == false`) or stopped by the user.
    Finished {
        /// Whether `Stop` ended it.
        stopped: bool,
    },
}
