//! Running the `pixelcnn-studio` binary: its command, its JSON answers, its one-line errors.

use std::path::Path;

use assert_cmd::Command;

/// The command of the binary under test.
pub fn studio() -> Command {
    Command::cargo_bin("pixelcnn-studio").unwrap()
}

/// Parses stdout as one JSON object (a clear panic otherwise).
pub fn json_of(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(output)
        )
    })
}

/// Runs `args` in `dir`, expects success and one JSON object on stdout.
pub fn run_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = studio().args(args).current_dir(dir).assert().success();
    json_of(&output.get_output().stdout)
}

/// Expects a failure with one line on stderr, `error: ...` mentioning `needle`, and no panic.
pub fn assert_clean_error(assert: assert_cmd::assert::Assert, needle: &str) {
    let output = assert.failure().get_output().clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
}
