//! The command line through its binary: JSON outputs, exact resume across processes, and clean
//! one-line errors for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers in integration tests, too

mod common;

use std::path::Path;

use common::cli::{assert_clean_error, json_of, run_json, studio};
use pixelcnn_studio::checkpoint;

/// A quick run: small model, few images.
fn train(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["train", "--maps", "8", "--layers", "1"];
    args.extend(["--train-limit", "300", "--test-limit", "100"]);
    args.extend(["--batch-size", "50", "--json"]);
    args.extend(extra);
    run_json(dir, &args)
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
fn inspect_shows_both_gated_stacks_with_the_kernel_asked_for() {
    let report = run_json(
        Path::new("."),
        &[
            "inspect",
            "--preset",
            "gated",
            "--conditional",
            "--masked-kernel",
            "5",
            "--json",
        ],
    );
    assert_eq!(report["blind_spot"], false);
    let convs = report["convolutions"].as_array().unwrap();
    let kernel = |name: &str| {
        convs
            .iter()
            .find(|c| c["name"] == name)
            .map(|c| c["kernel"].clone())
            .unwrap()
    };
    // A 5-wide gated layer: the vertical stack reads 3 rows of 5, the horizontal one 3 pixels.
    assert_eq!(kernel("layers.0.conv_v"), serde_json::json!([3, 5]));
    assert_eq!(kernel("layers.0.conv_h"), serde_json::json!([1, 3]));
    assert!(report["class_bias_parameters"].as_u64().unwrap() > 0);
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
fn usage_errors_are_one_line() {
    for args in [
        &["eval", "--checkpint", "x"][..],
        &["eval"][..],
        &["bench", "--kernel", "fast"][..],
        &["train", "--epochs", "many"][..],
    ] {
        let assert = studio().args(args).assert().code(2);
        let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
    assert_clean_error(
        studio()
            .args(["inspect"])
            .env("PIXELCNN_KERNEL", "avx1024")
            .assert(),
        "PIXELCNN_KERNEL",
    );
}

/// A checkpoint of the quick run with `edit` applied, written to `dir/name`.
fn edited_checkpoint(
    dir: &Path,
    name: &str,
    edit: impl FnOnce(&mut pixelcnn_studio::train::TrainingSnapshot),
) {
    if !dir.join("base.safetensors").exists() {
        train(dir, &["--epochs", "1", "--out", "base.safetensors"]);
    }
    let mut snapshot = checkpoint::load(&dir.join("base.safetensors")).unwrap();
    edit(&mut snapshot);
    checkpoint::save(&dir.join(name), &snapshot).unwrap();
}

#[test]
fn a_resume_whose_adam_update_overflows_fails_and_writes_only_a_loadable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    // A first moment at f32::MAX on a hidden tap of mask A (zero gradient, zero second moment):
    // the next update divides it by eps.
    edited_checkpoint(dir.path(), "poisoned.safetensors", |s| {
        s.adam.first_moment.tensors[0].data[7 * 7 - 1] = f32::MAX;
    });
    assert_clean_error(
        studio()
            .args([
                "train",
                "--resume",
                "poisoned.safetensors",
                "--epochs",
                "2",
                "--out",
                "out.safetensors",
                "--json",
            ])
            .current_dir(dir.path())
            .assert(),
        "Adam's update would have made 'conv_a.weight'",
    );
    let kept = checkpoint::load(&dir.path().join("out.safetensors")).unwrap();
    assert_eq!(kept.progress.epochs_done, 1);
    assert!(kept.params.all_finite());
}

#[test]
fn eval_and_sample_refuse_a_model_whose_outputs_overflow() {
    let dir = tempfile::tempdir().unwrap();
    edited_checkpoint(dir.path(), "huge.safetensors", |s| {
        // The trained and the averaged weights (what eval and sample read).
        let averaged = s.averaged.as_mut().map(|a| &mut a.tensors);
        for t in s
            .params
            .tensors
            .iter_mut()
            .chain(averaged.into_iter().flatten())
        {
            t.data.iter_mut().for_each(|w| *w *= 1e10);
        }
    });
    assert_clean_error(
        studio()
            .args(["eval", "--checkpoint", "huge.safetensors", "--json"])
            .current_dir(dir.path())
            .assert(),
        "the test cost is NaN",
    );
    std::fs::write(dir.path().join("grid.png"), b"an earlier image").unwrap();
    assert_clean_error(
        studio()
            .args([
                "sample",
                "--checkpoint",
                "huge.safetensors",
                "--out",
                "grid.png",
                "--count",
                "4",
            ])
            .current_dir(dir.path())
            .assert(),
        "not a finite number",
    );
    assert_eq!(
        std::fs::read(dir.path().join("grid.png")).unwrap(),
        b"an earlier image"
    );
}

#[test]
fn a_model_too_big_for_the_machine_is_refused_with_the_figures() {
    assert_clean_error(
        studio()
            .args([
                "train",
                "--maps",
                "512",
                "--layers",
                "64",
                "--batch-size",
                "10000",
            ])
            .assert(),
        "more memory (estimate), but only",
    );
}

/// Under a memory cap the run may be refused by the estimate or, where the estimate cannot
/// foresee it (the allocator's own reservations), by a failed allocation: either way one
/// line and exit status 1, never an abort.
#[cfg(target_os = "linux")]
#[test]
fn a_memory_cap_gives_one_clear_line_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("pixelcnn-studio");
    for cap_kib in ["150000", "200000"] {
        let script = format!(
            "ulimit -v {cap_kib} && exec \"$0\" train --epochs 1 --train-limit 200 \
             --test-limit 100 --batch-size 50"
        );
        let output = std::process::Command::new("sh")
            .args(["-c", &script])
            .arg(&bin)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "cap {cap_kib} KiB: {stderr}");
        assert!(stderr.starts_with("error: "), "cap {cap_kib} KiB: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains("memory"), "{stderr}");
    }
}

#[test]
fn inspect_states_the_memory_estimate() {
    let report = run_json(Path::new("."), &["inspect", "--preset", "seed", "--json"]);
    let memory = &report["memory_estimate"];
    assert_eq!(memory["batch_size"], 100);
    let training = memory["training_bytes"].as_u64().unwrap();
    let evaluation = memory["evaluation_only_bytes"].as_u64().unwrap();
    assert!(training > evaluation && evaluation > 0, "{memory}");
    let text = studio()
        .args(["inspect", "--preset", "paper"])
        .assert()
        .success();
    let text = String::from_utf8_lossy(&text.get_output().stdout).to_string();
    assert!(
        text.contains("memory (estimate): training at batch size 100 needs "),
        "{text}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_stops_training_after_the_current_step_and_saves_like_ctrl_c() {
    use std::time::{Duration, Instant};

    use common::threads::WATCHDOG;
    let dir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pixelcnn-studio"))
        .args(["train", "--maps", "8", "--layers", "1"])
        .args([
            "--train-limit",
            "100",
            "--test-limit",
            "20",
            "--batch-size",
            "50",
        ])
        .args(["--epochs", "100000", "--samples-dir", "samples"])
        .args(["--out", "ck.safetensors", "--json"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first epoch's samples show that training (and so the signal handler) is running.
    let deadline = Instant::now() + WATCHDOG;
    while !dir.path().join("samples/epoch_1.png").exists() {
        assert!(Instant::now() < deadline, "training never got going");
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json_of(&output.stdout);
    assert_eq!(report["stopped"], true);
    let saved = checkpoint::load(&dir.path().join("ck.safetensors")).unwrap();
    assert!(saved.progress.epochs_done >= 1);
    // What is saved is the run where it stopped (its last step), not its last epoch end.
    assert_eq!(report["steps"], saved.progress.global_step);
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
    assert!(report["estimated_peak_mib"].as_f64().unwrap() > 0.0);
    assert!(["avx512", "portable"].contains(&report["kernel"].as_str().unwrap()));
}

#[test]
fn bench_can_force_the_portable_kernel() {
    let report = run_json(
        Path::new("."),
        &[
            "bench",
            "--runs",
            "1",
            "--skip-naive",
            "--kernel",
            "portable",
            "--json",
        ],
    );
    assert_eq!(report["kernel"], "portable");
    let report = studio()
        .args(["bench", "--runs", "1", "--skip-naive", "--json"])
        .env("PIXELCNN_KERNEL", "portable")
        .assert()
        .success();
    assert_eq!(json_of(&report.get_output().stdout)["kernel"], "portable");
}

#[test]
fn train_writes_out_and_the_metrics_at_every_epoch_end_so_a_kill_loses_at_most_one() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run.safetensors");
    let csv = dir.path().join("metrics.csv");
    // Epochs of 2,000 images (40 steps), far more of them than run before the kill.
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
            "2000",
            "--test-limit",
            "200",
            "--epochs",
            "100000",
        ])
        .arg("--out")
        .arg(&out)
        .arg("--metrics-csv")
        .arg(&csv)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The run's own epoch lines, as it prints them (at each epoch end, just after writing
    // that epoch's files).
    let stderr = child.stderr.take().unwrap();
    let (line_tx, line_rx) = crossbeam_channel::unbounded();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = line_tx.send(line);
        }
    });
    let is_epoch_line = |line: &str| line.starts_with("epoch ") && line.contains(": train ");
    let mut lines = Vec::new();
    // Killed once epoch 2 has ended: epoch 1's files are whole on disk by then.
    while !lines.iter().any(|l: &String| l.starts_with("epoch 2:")) {
        match line_rx.recv_timeout(common::threads::WATCHDOG) {
            Ok(line) => lines.push(line),
            Err(why) => panic!("no second epoch line ({why:?}): {lines:?}"),
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(line_rx.try_iter());
    let reported = lines.iter().filter(|l| is_epoch_line(l)).count();

    // On disk: an epoch end, whole, every epoch reported, and at most one more (the kill may
    // fall between an epoch's files and its line).
    let saved = checkpoint::load(&out).unwrap();
    let epochs = saved.progress.epochs_done;
    assert!(
        epochs >= reported && epochs <= reported + 1,
        "{epochs} epochs on disk, {reported} reported: {lines:?}"
    );
    assert_eq!(saved.progress.step_in_epoch, 0);
    assert_eq!(saved.progress.global_step, 40 * epochs as u64);
    assert_eq!(saved.history.epochs.len(), epochs);
    // The metrics are written right after the checkpoint, before the line: every epoch
    // reported, the same epochs as the checkpoint, or the kill fell between the two files.
    let text = std::fs::read_to_string(&csv).unwrap();
    let test_rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("test_cost_nats_per_pixel,"))
        .collect();
    assert!(
        test_rows.len() >= reported && test_rows.len() <= epochs,
        "{} test rows, {epochs} epochs on disk, {reported} reported",
        test_rows.len()
    );
    for (index, row) in test_rows.iter().enumerate() {
        let epoch = index + 1;
        assert!(
            row.starts_with(&format!("test_cost_nats_per_pixel,{epoch},{},", 40 * epoch)),
            "{text}"
        );
    }

    // Resuming finishes the run from there.
    let target = (epochs + 1).to_string();
    let report = run_json(
        dir.path(),
        &[
            "train",
            "--resume",
            "run.safetensors",
            "--epochs",
            &target,
            "--train-limit",
            "2000",
            "--test-limit",
            "200",
            "--out",
            "run.safetensors",
            "--json",
        ],
    );
    assert_eq!(report["epochs"], epochs + 1);
    assert_eq!(report["steps"], 40 * (epochs + 1));
}
