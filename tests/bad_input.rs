//! Bad input to the command line, each answered in one plain line that names what was wrong
//! and what to do: special files (a folder, a named pipe, `/dev/zero`) given where a file is
//! read or written, a digit out of range, a damaged checkpoint header, a full disk; and the
//! outputs that must not mislead: no `null` in JSON, "1 completion", the memory estimate of the
//! batch that can exist.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

mod common;

use std::path::Path;

use common::cli::{assert_clean_error, json_of, run_json, studio};

/// A quick plain model trained on a few images, saved as `dir/ck.safetensors`.
fn quick_checkpoint(dir: &Path) {
    run_json(
        dir,
        &[
            "train",
            "--maps",
            "8",
            "--layers",
            "1",
            "--train-limit",
            "100",
            "--test-limit",
            "50",
            "--batch-size",
            "50",
            "--out",
            "ck.safetensors",
            "--json",
        ],
    );
}

/// Expects `assert` to fail with one line that contains every one of `needles` and names the
/// OS error at most once.
fn assert_one_line(assert: assert_cmd::assert::Assert, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert_clean_error(assert, needles.first().copied().unwrap_or(""));
    for needle in needles {
        assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
    }
    assert!(
        stderr.matches("os error").count() <= 1,
        "the OS error once: {stderr}"
    );
}

#[cfg(unix)]
fn make_fifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {}", path.display());
}

#[cfg(unix)]
#[test]
fn an_image_that_is_a_device_a_pipe_a_folder_or_missing_is_named_as_such_and_never_read() {
    let dir = tempfile::tempdir().unwrap();
    quick_checkpoint(dir.path());
    make_fifo(&dir.path().join("pipe.png"));
    std::fs::create_dir(dir.path().join("folder.png")).unwrap();
    let mut cases = vec![
        ("pipe.png", "a named pipe (FIFO), not a regular file"),
        ("folder.png", "a folder, not a regular file"),
        ("missing.png", "there is no such file"),
    ];
    if Path::new("/dev/zero").exists() {
        cases.push(("/dev/zero", "a character device, not a regular file"));
    }
    for (image, what) in cases {
        let assert = studio()
            .args([
                "nll-map",
                "--checkpoint",
                "ck.safetensors",
                "--image",
                image,
            ])
            .current_dir(dir.path())
            .timeout(std::time::Duration::from_secs(60))
            .assert();
        assert_one_line(assert, &[what, "28x28 PNG", image]);
    }
}

#[cfg(unix)]
#[test]
fn a_checkpoint_path_that_is_a_device_a_pipe_or_a_folder_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    make_fifo(&dir.path().join("pipe.safetensors"));
    std::fs::create_dir(dir.path().join("folder.safetensors")).unwrap();
    let mut cases = vec![
        ("pipe.safetensors", "the path is a named pipe (FIFO)"),
        ("folder.safetensors", "the path is a folder"),
        ("missing.safetensors", "there is no such file"),
    ];
    if Path::new("/dev/zero").exists() {
        cases.push(("/dev/zero", "the path is a character device"));
    }
    for (checkpoint, what) in cases {
        let assert = studio()
            .args(["eval", "--checkpoint", checkpoint])
            .current_dir(dir.path())
            .timeout(std::time::Duration::from_secs(60))
            .assert();
        assert_one_line(assert, &[what, checkpoint]);
    }
}

#[cfg(unix)]
#[test]
fn a_data_file_that_is_a_pipe_or_a_folder_is_named_as_such_not_as_missing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    make_fifo(&data.join("train-images-idx3-ubyte"));
    let assert = studio()
        .args(["train", "--data", "data", "--epochs", "1"])
        .current_dir(dir.path())
        .timeout(std::time::Duration::from_secs(60))
        .assert();
    assert_one_line(
        assert,
        &[
            "train-images-idx3-ubyte is a named pipe (FIFO), not a regular file",
            "data/train-images-idx3-ubyte",
        ],
    );
    std::fs::remove_file(data.join("train-images-idx3-ubyte")).unwrap();
    std::fs::create_dir(data.join("train-images-idx3-ubyte.gz")).unwrap();
    let assert = studio()
        .args(["train", "--data", "data", "--epochs", "1"])
        .current_dir(dir.path())
        .assert();
    assert_one_line(assert, &["train-images-idx3-ubyte.gz is a folder"]);
}

#[cfg(unix)]
#[test]
fn an_output_that_is_a_pipe_is_refused_not_replaced() {
    // Writing "over" a special file by rename would replace it with a file (a device too,
    // for root): a named pipe stands in for /dev/full here.
    let dir = tempfile::tempdir().unwrap();
    make_fifo(&dir.path().join("pipe.safetensors"));
    let assert = studio()
        .args(["train", "--maps", "8", "--layers", "1"])
        .args([
            "--train-limit",
            "100",
            "--test-limit",
            "50",
            "--batch-size",
            "50",
        ])
        .args(["--out", "pipe.safetensors"])
        .current_dir(dir.path())
        .timeout(std::time::Duration::from_secs(120))
        .assert();
    assert_one_line(
        assert,
        &[
            "a named pipe (FIFO), not a regular file",
            "pipe.safetensors",
        ],
    );
    let meta = std::fs::metadata(dir.path().join("pipe.safetensors")).unwrap();
    assert!(!meta.is_file(), "the pipe is still a pipe");
}

#[test]
fn a_digit_out_of_range_says_0_to_9() {
    for sub in [
        &["nll-map", "--checkpoint", "x", "--test-index", "0"][..],
        &["sample", "--checkpoint", "x", "--out", "x.png"][..],
    ] {
        let assert = studio().args(sub).args(["--class", "10"]).assert().code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("0 to 9"), "{stderr}");
        assert!(!stderr.contains("0..10"), "{stderr}");
    }
}

#[test]
fn one_completion_is_one_completion() {
    let dir = tempfile::tempdir().unwrap();
    quick_checkpoint(dir.path());
    let output = studio()
        .args([
            "complete",
            "--checkpoint",
            "ck.safetensors",
            "--test-index",
            "3",
        ])
        .args(["--keep-rows", "1", "--count", "1", "--out", "one.png"])
        .current_dir(dir.path())
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).to_string();
    assert!(
        stdout.contains("kept 1 row,") && stdout.contains("drew 1 completion in"),
        "{stdout}"
    );
}

#[test]
fn a_header_longer_than_the_file_says_how_much_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    // The header length claims every byte of the file, its own 8 included.
    let len = 1000u64;
    let mut bytes = len.to_le_bytes().to_vec();
    bytes.resize(len as usize, b' ');
    std::fs::write(dir.path().join("short.safetensors"), bytes).unwrap();
    let assert = studio()
        .args(["eval", "--checkpoint", "short.safetensors"])
        .current_dir(dir.path())
        .assert();
    assert_one_line(
        assert,
        &["the header claims 1000 bytes but only 992 follow its 8-byte length"],
    );
}

/// Every `null` in a JSON value, by path.
fn nulls(value: &serde_json::Value, at: &str, found: &mut Vec<String>) {
    match value {
        serde_json::Value::Null => found.push(at.to_string()),
        serde_json::Value::Object(fields) => {
            for (key, field) in fields {
                nulls(field, &format!("{at}.{key}"), found);
            }
        }
        serde_json::Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                nulls(item, &format!("{at}[{index}]"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn json_outputs_leave_out_what_does_not_exist_instead_of_null() {
    let dir = tempfile::tempdir().unwrap();
    quick_checkpoint(dir.path());
    let no_out = run_json(
        dir.path(),
        &[
            "train",
            "--maps",
            "8",
            "--layers",
            "1",
            "--train-limit",
            "100",
            "--test-limit",
            "50",
            "--batch-size",
            "50",
            "--json",
        ],
    );
    let map = run_json(
        dir.path(),
        &[
            "nll-map",
            "--checkpoint",
            "ck.safetensors",
            "--test-index",
            "0",
            "--json",
        ],
    );
    let inspect = run_json(dir.path(), &["inspect", "--preset", "seed", "--json"]);
    let in_a_run = run_json(
        dir.path(),
        &[
            "train",
            "--maps",
            "8",
            "--layers",
            "1",
            "--train-limit",
            "100",
            "--test-limit",
            "50",
            "--batch-size",
            "50",
            "--run",
            "a-run",
            "--json",
        ],
    );
    for (name, report) in [
        ("train", &no_out),
        ("nll-map", &map),
        ("inspect", &inspect),
        ("train --run", &in_a_run),
    ] {
        let mut found = Vec::new();
        nulls(report, name, &mut found);
        assert!(found.is_empty(), "null fields: {found:?}");
    }
    // No time limit, no --out, an unconditional model: those fields are absent.
    assert!(no_out.get("final_test_cost_nats_per_pixel").is_none());
    assert!(no_out.get("checkpoint").is_none());
    assert!(no_out.get("run").is_none(), "no --run, no run field");
    assert_eq!(in_a_run["run"], "a-run");
    assert!(no_out["test_cost_nats_per_pixel"].as_f64().is_some());
    assert!(map.get("class").is_none() && map.get("out").is_none());
    assert_eq!(map["source"]["test_index"], 0);
}

#[test]
fn a_failed_write_at_an_epoch_end_is_the_only_line_on_stderr() {
    // As on a full disk: the checkpoint cannot be written at the first epoch end. The epoch's
    // progress line follows its files, so it is not printed.
    let dir = tempfile::tempdir().unwrap();
    let assert = studio()
        .args(["train", "--maps", "8", "--layers", "1"])
        .args([
            "--train-limit",
            "100",
            "--test-limit",
            "50",
            "--batch-size",
            "50",
        ])
        .args(["--epochs", "2", "--out", "no-such-folder/ck.safetensors"])
        .current_dir(dir.path())
        .assert();
    assert_one_line(assert, &["no-such-folder/ck.safetensors"]);
}

/// Under an address-space cap of 8 GB the seed model at batch size 10,000 (about 15 GiB) does
/// not fit, but a run on 50 images can only ever make batches of 50: it is not refused for the
/// batch it asked for, and one with 20,000 images is (with the batch size named).
#[cfg(target_os = "linux")]
#[test]
fn the_memory_estimate_counts_the_batch_that_can_exist() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("pixelcnn-studio");
    let run = |train_limit: &str| {
        let script = format!(
            "ulimit -v 8000000 && exec \"$0\" train --preset seed --batch-size 10000 \
             --train-limit {train_limit} --test-limit 20 --epochs 1 --json"
        );
        std::process::Command::new("sh")
            .args(["-c", &script])
            .arg(&bin)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let small = run("50");
    assert!(
        small.status.success(),
        "{}",
        String::from_utf8_lossy(&small.stderr)
    );
    assert_eq!(json_of(&small.stdout)["steps"], 1);
    let large = run("20000");
    let stderr = String::from_utf8_lossy(&large.stderr);
    assert_eq!(large.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("at batch size 10000"), "{stderr}");
}

/// A small `.gz` that expands past the length its header announces is refused soon after that
/// length (not decompressed to the end), and a `.gz` larger than any MNIST file could be is
/// refused unread.
#[test]
fn a_gzip_data_file_is_read_only_as_far_as_an_mnist_file_can_reach() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let gz = data.join("train-images-idx3-ubyte.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    let mut header = Vec::new();
    for word in [2051u32, 60_000, 28, 28] {
        header.extend_from_slice(&word.to_be_bytes());
    }
    encoder.write_all(&header).unwrap();
    let zeros = vec![0u8; 1 << 20];
    // 200 MiB of zeros after a header announcing 47 MB: about 200 KB compressed.
    for _ in 0..200 {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.finish().unwrap();
    let started = std::time::Instant::now();
    let err = pixelcnn_studio::data::load_mnist_with_cache(&data, &dir.path().join("cache"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("too long: expected 47040016 bytes after decompression, found at least"),
        "{err}"
    );
    assert!(err.ends_with("train-images-idx3-ubyte.gz"), "{err}");
    // Stopping at the announced length, not decompressing 200 MiB to count them.
    let read = err
        .split("found at least ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap();
    assert!(read < 48_000_000, "{read} bytes decompressed");
    assert!(started.elapsed().as_secs() < 60);

    // A sparse file of 65 MiB starting like gzip: refused from its size.
    std::fs::remove_file(&gz).unwrap();
    let file = std::fs::File::create(&gz).unwrap();
    (&file).write_all(&[0x1f, 0x8b]).unwrap();
    file.set_len(65 << 20).unwrap();
    let err = pixelcnn_studio::data::load_mnist_with_cache(&data, &dir.path().join("cache"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the compressed file is 68157440 bytes, more than any MNIST file needs"),
        "{err}"
    );
}
