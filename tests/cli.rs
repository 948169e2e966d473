//! The command line through its binary: JSON outputs, exact resume across processes, and clean
//! one-line errors for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

use std::path::Path;

use assert_cmd::Command;
use pixelcnn_studio::checkpoint;

fn studio() -> Command {
    Command::cargo_bin("pixelcnn-studio").unwrap()
}

fn json_of(output: &[u8]) -> serde_json::Value {
    serde_json::from_slice(output).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}): {}",
            String::from_utf8_lossy(output)
        )
    })
}

/// Runs `args` in `dir`, expects success and one JSON object on stdout.
fn run_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let output = studio().args(args).current_dir(dir).assert().success();
    json_of(&output.get_output().stdout)
}

/// A quick run: small model, few images.
fn train(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["train", "--maps", "8", "--layers", "1"];
    args.extend(["--train-limit", "300", "--test-limit", "100"]);
    args.extend(["--batch-size", "50", "--json"]);
    args.extend(extra);
    run_json(dir, &args)
}

fn assert_clean_error(assert: assert_cmd::assert::Assert, needle: &str) {
    let output = assert.failure().get_output().clone();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: "), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
}

#[test]
fn help_lists_the_subcommands() {
    let out = studio()
        .arg("--help")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&out);
    for sub in ["train", "eval", "sample", "inspect"] {
        assert!(text.contains(sub), "help lacks {sub}: {text}");
    }
}

#[test]
fn train_eval_and_sample_work_together() {
    let dir = tempfile::tempdir().unwrap();
    let report = train(dir.path(), &["--out", "ck.safetensors", "--epochs", "1"]);
    assert_eq!(report["epochs"], 1);
    assert_eq!(report["steps"], 6);
    let test_cost = report["test_cost_nats_per_pixel"].as_f64().unwrap();
    assert!(test_cost < 0.69, "below a coin flip: {test_cost}");
    let nll = report["test_nll_nats_per_image"].as_f64().unwrap();
    assert!((nll - test_cost * 784.0).abs() < 1e-6);
    assert!(report["images_per_sec"].as_f64().unwrap() > 0.0);
    assert!(report["checkpoint"]
        .as_str()
        .unwrap()
        .ends_with("ck.safetensors"));

    let eval = run_json(
        dir.path(),
        &["eval", "--checkpoint", "ck.safetensors", "--json"],
    );
    assert_eq!(eval["images"], 100);
    assert_eq!(
        eval["test_cost_nats_per_pixel"].as_f64().unwrap(),
        test_cost
    );

    let sample = studio()
        .args([
            "sample",
            "--checkpoint",
            "ck.safetensors",
            "--out",
            "grid.png",
            "--json",
        ])
        .current_dir(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let sample = json_of(&sample);
    assert_eq!(sample["count"], 100);
    let png = image::open(dir.path().join("grid.png")).unwrap();
    assert_eq!((png.width(), png.height()), (280, 280));
}

#[test]
fn resuming_in_a_new_process_gives_bit_identical_weights() {
    let dir = tempfile::tempdir().unwrap();
    train(
        dir.path(),
        &["--epochs", "2", "--out", "straight.safetensors"],
    );
    train(dir.path(), &["--epochs", "1", "--out", "half.safetensors"]);
    let resumed = run_json(
        dir.path(),
        &[
            "train",
            "--resume",
            "half.safetensors",
            "--epochs",
            "2",
            "--out",
            "resumed.safetensors",
            "--json",
        ],
    );
    assert_eq!(resumed["epochs"], 2);
    let straight = checkpoint::load(&dir.path().join("straight.safetensors")).unwrap();
    let resumed = checkpoint::load(&dir.path().join("resumed.safetensors")).unwrap();
    assert_eq!(straight.params, resumed.params);
    assert_eq!(straight.adam, resumed.adam);
}

#[test]
fn inspect_lists_the_six_seed_layers_with_their_parameter_counts() {
    let report = run_json(Path::new("."), &["inspect", "--preset", "seed", "--json"]);
    let layers = report["layers"].as_array().unwrap();
    let params: Vec<u64> = layers
        .iter()
        .map(|l| l["parameters"].as_u64().unwrap())
        .collect();
    assert_eq!(params, [3200, 36928, 36928, 4160, 4160, 65]);
    assert_eq!(layers[0]["mask"], "A");
    assert_eq!(layers[1]["mask"], "B");
    assert_eq!(layers[0]["output_shape"], serde_json::json!([64, 28, 28]));
    assert_eq!(report["total_params"], 85441);
    let text = studio()
        .args(["inspect", "--preset", "paper"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    assert!(text.contains("conv_b.14") && text.contains("[.]") && text.contains("[#]"));
}

#[test]
fn bad_checkpoints_give_one_clear_error_line() {
    let dir = tempfile::tempdir().unwrap();
    train(dir.path(), &["--epochs", "1", "--out", "good.safetensors"]);
    let good = std::fs::read(dir.path().join("good.safetensors")).unwrap();
    let cases: [(&str, Vec<u8>); 3] = [
        ("empty.safetensors", Vec::new()),
        ("truncated.safetensors", good[..good.len() - 100].to_vec()),
        (
            "random.safetensors",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2654435761) >> 7) as u8)
                .collect(),
        ),
    ];
    for (name, bytes) in cases {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        for sub in ["eval", "sample"] {
            let mut cmd = studio();
            cmd.args([sub, "--checkpoint", name])
                .current_dir(dir.path());
            if sub == "sample" {
                cmd.args(["--out", "x.png"]);
            }
            assert_clean_error(cmd.assert(), name);
        }
    }
    assert!(!dir.path().join("x.png").exists());
}

#[test]
fn bad_data_folders_give_one_clear_error_line() {
    let dir = tempfile::tempdir().unwrap();
    assert_clean_error(
        studio()
            .args(["train", "--data", "no-such-folder", "--epochs", "1"])
            .current_dir(dir.path())
            .assert(),
        "no-such-folder",
    );
    // A gzip file given under the raw IDX name.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let shipped = pixelcnn_studio::data::default_data_dir();
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::copy(shipped.join(format!("{name}.gz")), data.join(name)).unwrap();
    }
    assert_clean_error(
        studio()
            .args(["train", "--data", "data", "--epochs", "1"])
            .current_dir(dir.path())
            .assert(),
        "gzip",
    );
}

#[test]
fn invalid_options_are_refused_before_any_work() {
    assert_clean_error(
        studio()
            .args(["inspect", "--preset", "seed", "--maps", "0"])
            .assert(),
        "feature maps 0",
    );
    assert_clean_error(
        studio().args(["inspect", "--preset", "huge"]).assert(),
        "unknown preset",
    );
    assert_clean_error(
        studio().args(["train", "--first-kernel", "4"]).assert(),
        "even",
    );
}

#[test]
fn bench_reports_speed_sampling_and_memory() {
    let report = run_json(
        Path::new("."),
        &["bench", "--runs", "1", "--naive-rows", "1", "--json"],
    );
    for key in [
        "train_images_per_sec",
        "eval_images_per_sec",
        "sample_grid_secs_fast",
        "sample_grid_secs_naive",
        "peak_rss_mib",
    ] {
        let value = report[key].as_f64().unwrap_or(0.0);
        assert!(value > 0.0, "{key} = {}", report[key]);
    }
    assert!(report["threads"].as_u64().unwrap() >= 1);
    assert_eq!(report["naive_rows_timed"], 1);
}

#[test]
fn train_writes_out_and_the_metrics_at_every_epoch_end_so_a_kill_loses_at_most_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.safetensors");
    let csv = dir.path().join("metrics.csv");
    // Epochs of 6,000 images: about a second each, far longer than the poll below.
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pixelcnn-studio"))
        .args([
            "train",
            "--maps",
            "8",
            "--layers",
            "1",
            "--batch-size",
            "50",
        ])
        .args([
            "--train-limit",
            "6000",
            "--test-limit",
            "200",
            "--epochs",
            "2",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--metrics-csv")
        .arg(&csv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !(out.exists() && csv.exists()) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "train ended before writing"
        );
        assert!(std::time::Instant::now() < deadline, "nothing was written");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // Killed in epoch 2: what is on disk is the end of epoch 1, whole.
    child.kill().unwrap();
    child.wait().unwrap();
    let saved = checkpoint::load(&out).unwrap();
    assert_eq!(saved.progress.epochs_done, 1);
    assert_eq!(saved.progress.step_in_epoch, 0);
    assert_eq!(saved.history.epochs.len(), 1);
    let text = std::fs::read_to_string(&csv).unwrap();
    let test_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("test_cost_nats_per_pixel,"))
        .collect();
    assert_eq!(test_rows.len(), 1, "{text}");
    assert!(test_rows[0].starts_with("test_cost_nats_per_pixel,1,120,"));

    // Resuming finishes the run from there.
    let report = run_json(
        dir.path(),
        &[
            "train",
            "--resume",
            "run.safetensors",
            "--epochs",
            "2",
            "--train-limit",
            "6000",
            "--test-limit",
            "200",
            "--out",
            "run.safetensors",
            "--json",
        ],
    );
    assert_eq!(report["epochs"], 2);
    assert_eq!(report["steps"], 240);
}
