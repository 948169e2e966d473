//! Reading run folders without disturbing their writer: the run-state file and the checkpoint
//! (only complete files exist under their names: writers rename them into place), the grids'
//! PNGs, the log up to its last complete line, and a folder's size. Every read is capped in
//! size. Blocking: call these off the UI thread.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::clock::now_unix_ms;
use super::files::{parse_grid_file_name, RunFiles, STATUS_FILE};
use super::status::{RunState, RunStatus};
use super::RunError;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::SampleGrid;
use crate::train::{SampleStamp, TrainingSnapshot};

/// The largest grid PNG read.
const MAX_GRID_PNG_BYTES: u64 = 16 << 20;
/// The widest grid read back (100 x 100 images).
const MAX_GRID_SIDE: u32 = 100;
/// How much of the log's end is read for its last lines.
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// A run as a list shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// The run folder.
    pub dir: PathBuf,
    /// Its run-state file.
    pub status: RunStatus,
    /// The state as it is (a live run whose writer is gone is crashed).
    pub state: RunState,
    /// Why it is crashed, when it is.
    pub why: Option<String>,
    /// Bytes in the folder (its files and grids).
    pub size_bytes: u64,
}

impl RunSummary {
    /// The run's name: its folder's name.
    pub fn name(&self) -> String {
        self.dir.file_name().map_or_else(
            || self.status.name.clone(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// Whether a writer is training it now (or holds it paused).
    pub fn is_live(&self) -> bool {
        self.state == RunState::Live
    }
}

/// Reads the run in `dir`: its state file, its effective state and its size.
pub fn summarize(dir: &Path) -> Result<RunSummary, RunError> {
    let status = RunStatus::read(&RunFiles::new(dir).status())?;
    let (state, why) = status.effective_state(now_unix_ms());
    Ok(RunSummary {
        dir: dir.to_path_buf(),
        status,
        state,
        why,
        size_bytes: folder_size(dir),
    })
}

/// Every run in `root` (its subfolders with a run-state file), newest first by name. A folder
/// whose state file cannot be read is left out.
pub fn list_runs(root: &Path) -> Vec<RunSummary> {
    let Ok(entries) = fs::read_dir(root) else {
        return Vec::new();
    };
    let mut runs: Vec<RunSummary> = entries
        .flatten()
        .filter(|e| e.path().join(STATUS_FILE).is_file())
        .filter_map(|e| summarize(&e.path()).ok())
        .collect();
    runs.sort_by_key(|run| std::cmp::Reverse(run.name()));
    runs
}

/// Reads and validates the run's checkpoint (the whole file, as opening it does).
pub fn load_checkpoint(dir: &Path) -> Result<TrainingSnapshot, RunError> {
    Ok(crate::checkpoint::load(&RunFiles::new(dir).checkpoint())?)
}

/// The run's grid files by name, with their stamps, in epoch order.
pub fn grid_files(dir: &Path) -> Vec<(String, SampleStamp)> {
    let Ok(entries) = fs::read_dir(RunFiles::new(dir).samples()) else {
        return Vec::new();
    };
    let by_epoch: BTreeMap<(u64, String), SampleStamp> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let stamp = parse_grid_file_name(&name)?;
            Some(((stamp.epoch as u64, name), stamp))
        })
        .collect();
    by_epoch
        .into_iter()
        .map(|((_, name), stamp)| (name, stamp))
        .collect()
}

/// Reads a grid PNG back into a grid (`side * 28` pixels square, white strokes on black).
pub fn read_grid(path: &Path) -> Result<SampleGrid, String> {
    let fail = |what: String| format!("could not read the grid ({what}): {}", path.display());
    let file = fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    file.take(MAX_GRID_PNG_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_GRID_PNG_BYTES {
        return Err(fail(format!("larger than {MAX_GRID_PNG_BYTES} bytes")));
    }
    let image = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .map_err(|e| fail(e.to_string()))?
        .to_luma8();
    let (width, height) = image.dimensions();
    let side = width / IMAGE_SIDE as u32;
    if width != height || width % IMAGE_SIDE as u32 != 0 || side == 0 || side > MAX_GRID_SIDE {
        return Err(fail(format!(
            "{width}x{height} is not a square grid of 28x28 images"
        )));
    }
    let side = side as usize;
    let mut grid = SampleGrid::blank(side * side);
    let width = width as usize;
    let luma = image.as_raw();
    for (index, tile) in grid.pixels.chunks_exact_mut(IMAGE_PIXELS).enumerate() {
        let (gy, gx) = (index / side, index % side);
        for (pos, pixel) in tile.iter_mut().enumerate() {
            let (y, x) = (pos / IMAGE_SIDE, pos % IMAGE_SIDE);
            let value = luma
                .get((gy * IMAGE_SIDE + y) * width + gx * IMAGE_SIDE + x)
                .copied()
                .unwrap_or(0);
            *pixel = if value >= 128 { 1.0 } else { 0.0 };
        }
    }
    grid.pixels_done = IMAGE_PIXELS;
    Ok(grid)
}

/// The log's last `lines` complete lines (a line still being written is left out).
pub fn log_tail(dir: &Path, lines: usize) -> Vec<String> {
    let Ok(mut file) = fs::File::open(RunFiles::new(dir).log()) else {
        return Vec::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return Vec::new();
    }
    let mut bytes = Vec::new();
    if file.take(LOG_TAIL_BYTES).read_to_end(&mut bytes).is_err() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    // Only up to the last newline: the rest is a line being written.
    let complete = text.rsplit_once('\n').map_or("", |(done, _)| done);
    let mut all: Vec<&str> = complete.lines().collect();
    if start > 0 && !all.is_empty() {
        // The first line read may be cut at its start.
        all.remove(0);
    }
    let skip = all.len().saturating_sub(lines);
    all.into_iter().skip(skip).map(str::to_string).collect()
}

/// Bytes in the files under `dir` (best effort: what cannot be read counts nothing).
pub fn folder_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => folder_size(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_grid_png_reads_back_as_the_grid() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("g.png");
        let mut grid = SampleGrid::blank(4);
        grid.pixels_done = IMAGE_PIXELS;
        for (i, p) in grid.pixels.iter_mut().enumerate() {
            *p = if i % 7 == 0 { 1.0 } else { 0.0 };
        }
        crate::imaging::save_grid_png(&grid, &path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_grid(&path), Ok(grid));
        std::fs::write(&path, b"not a png").unwrap_or_else(|e| panic!("{e}"));
        assert!(read_grid(&path).is_err());
    }

    #[test]
    fn the_log_is_read_up_to_its_last_complete_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let log = RunFiles::new(dir.path()).log();
        std::fs::write(&log, "one\ntwo\nthree\nhalf a li").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log_tail(dir.path(), 2), ["two", "three"]);
        assert_eq!(log_tail(dir.path(), 9), ["one", "two", "three"]);
        let long: String = (0..5000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&log, long).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(log_tail(dir.path(), 1), ["line 4999"]);
    }
}
