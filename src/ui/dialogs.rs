//! The file-dialog seam: the studio asks a [`FileDialogs`] for paths on a short-lived thread
//! (never the UI thread) and gets the answer back over a channel. The real one is rfd's;
//! tests inject one that answers at once without opening a window.

use std::path::PathBuf;
use std::sync::Arc;

/// What a dialog was opened for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogPurpose {
    /// Pick where to save a checkpoint.
    SaveCheckpoint,
    /// Pick a checkpoint to open.
    OpenCheckpoint,
    /// Pick where to save the samples as PNG.
    SavePng,
    /// Pick another run's checkpoint to compare with.
    CompareCheckpoint,
    /// Pick where to write the metrics as CSV.
    ExportCsv,
    /// Pick a run folder to open (or follow).
    OpenRunFolder,
}

/// The answer of a dialog: `None` when the user cancelled or no dialog could be shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogResult {
    /// What it was for.
    pub purpose: DialogPurpose,
    /// The chosen path.
    pub path: Option<PathBuf>,
}

/// Asks the user for file paths. Implementations may block (they run off the UI thread).
pub trait FileDialogs: Send + Sync {
    /// A path to save to for `purpose` (`None`: cancelled or no dialog available).
    fn save_path(&self, purpose: DialogPurpose) -> Option<PathBuf>;
    /// A file to open for `purpose` (`None`: cancelled or no dialog available).
    fn open_path(&self, purpose: DialogPurpose) -> Option<PathBuf>;
}

/// Native dialogs through rfd (the XDG desktop portal on Linux). Without a portal they return
/// `None` at once, and the user types a path instead.
#[derive(Clone, Copy, Debug, Default)]
pub struct RfdDialogs;

impl FileDialogs for RfdDialogs {
    fn save_path(&self, purpose: DialogPurpose) -> Option<PathBuf> {
        let dialog = rfd::FileDialog::new();
        match purpose {
            DialogPurpose::SavePng => dialog
                .add_filter("PNG image", &["png"])
                .set_file_name("samples.png"),
            DialogPurpose::ExportCsv => dialog
                .add_filter("CSV table", &["csv"])
                .set_file_name("metrics.csv"),
            _ => dialog
                .add_filter("PixelCNN checkpoint", &["ckpt", "pcnn", "safetensors"])
                .set_file_name("pixelcnn.ckpt"),
        }
        .save_file()
    }

    fn open_path(&self, purpose: DialogPurpose) -> Option<PathBuf> {
        match purpose {
            DialogPurpose::OpenRunFolder => rfd::FileDialog::new().pick_folder(),
            _ => rfd::FileDialog::new().pick_file(),
        }
    }
}

/// Dialogs that never open a window: every request answers with the same fixed path (or
/// `None`). For tests and headless runs.
#[derive(Clone, Debug, Default)]
pub struct FixedDialogs {
    /// The answer to every request.
    pub path: Option<PathBuf>,
}

impl FileDialogs for FixedDialogs {
    fn save_path(&self, _purpose: DialogPurpose) -> Option<PathBuf> {
        self.path.clone()
    }

    fn open_path(&self, _purpose: DialogPurpose) -> Option<PathBuf> {
        self.path.clone()
    }
}

/// Runs a dialog on a short-lived named thread and hands its answer to `on_done` (which
/// forwards it to the UI and wakes it). Returns false when the thread could not start.
pub fn spawn_dialog(
    dialogs: Arc<dyn FileDialogs>,
    purpose: DialogPurpose,
    save: bool,
    on_done: impl FnOnce(DialogResult) + Send + 'static,
) -> bool {
    std::thread::Builder::new()
        .name("pixelcnn-file-dialog".into())
        .spawn(move || {
            let path = if save {
                dialogs.save_path(purpose)
            } else {
                dialogs.open_path(purpose)
            };
            on_done(DialogResult { purpose, path });
        })
        .is_ok()
}
