//! The training thread on its own: start, steps, epoch, samples, stop, errors, join on drop.

// Tests assert by unwrapping; helpers are not `#[test]` functions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pixelcnn_studio::messages::{DataSource, WorkerCommand, WorkerEvent, WorkerState};
use pixelcnn_studio::train::TrainConfig;
use pixelcnn_studio::worker::Worker;

use common::tiny_model;

fn tiny_train(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 20,
        learning_rate: 1e-3,
        seed: 3,
        train_limit: None,
        test_limit: None,
        samples_per_epoch: 4,
        ..TrainConfig::default()
    }
}

fn synthetic() -> DataSource {
    DataSource::Synthetic {
        train: 100,
        test: 20,
        seed: 7,
    }
}

fn spawn() -> (Worker, Arc<AtomicUsize>) {
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&wakes);
    let worker = Worker::spawn(Arc::new(move || {
        counter.fetch_add(1, Ordering::Relaxed);
    }))
    .expect("worker starts");
    (worker, wakes)
}

/// Collects events until `done` says so (or 60 s pass).
fn collect_until(worker: &Worker, mut done: impl FnMut(&WorkerEvent) -> bool) -> Vec<WorkerEvent> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut events = Vec::new();
    while Instant::now() < deadline {
        if let Some(event) = worker.recv_timeout(Duration::from_millis(100)) {
            let stop = done(&event);
            events.push(event);
            if stop {
                return events;
            }
        }
    }
    panic!("timed out; events so far: {:?}", summarize(&events));
}

fn summarize(events: &[WorkerEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| match e {
            WorkerEvent::Steps { points, .. } => format!("Steps({})", points.len()),
            WorkerEvent::SampleProgress { .. } => "SampleProgress".into(),
            WorkerEvent::SamplesReady { epoch, .. } => format!("SamplesReady({epoch})"),
            other => format!("{other:?}").chars().take(80).collect(),
        })
        .collect()
}

#[test]
fn a_run_reports_steps_epochs_samples_and_finishes() {
    let (worker, wakes) = spawn();
    worker
        .send(WorkerCommand::Start {
            model: tiny_model(),
            train: tiny_train(2),
            data: synthetic(),
        })
        .unwrap();
    let events = collect_until(&worker, |e| matches!(e, WorkerEvent::Finished { .. }));
    let names = summarize(&events);
    let steps: usize = events
        .iter()
        .map(|e| match e {
            WorkerEvent::Steps { points, .. } => points.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(steps, 10, "5 steps per epoch, 2 epochs: {names:?}");
    let epochs: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            WorkerEvent::EpochFinished { record, .. } => Some(record.epoch),
            _ => None,
        })
        .collect();
    assert_eq!(epochs, [1, 2]);
    let ready: Vec<(usize, usize)> = events
        .iter()
        .filter_map(|e| match e {
            WorkerEvent::SamplesReady { epoch, grid } => Some((*epoch, grid.pixels_done)),
            _ => None,
        })
        .collect();
    assert_eq!(ready, [(1, 784), (2, 784)]);
    assert!(events
        .iter()
        .any(|e| matches!(e, WorkerEvent::SampleProgress { .. })));
    assert!(events.contains(&WorkerEvent::State(WorkerState::Training)));
    assert!(matches!(
        events.last(),
        Some(WorkerEvent::Finished { stopped: false })
    ));
    let rest = collect_until(&worker, |e| *e == WorkerEvent::State(WorkerState::Finished));
    assert!(!rest.is_empty());
    assert!(wakes.load(Ordering::Relaxed) >= events.len());
}

#[test]
fn stop_takes_effect_within_a_step_and_start_continues() {
    let (worker, _) = spawn();
    let mut train = tiny_train(1000);
    train.samples_per_epoch = 0;
    worker
        .send(WorkerCommand::Start {
            model: tiny_model(),
            train: train.clone(),
            data: synthetic(),
        })
        .unwrap();
    collect_until(&worker, |e| matches!(e, WorkerEvent::Steps { .. }));
    worker.send(WorkerCommand::Pause).unwrap();
    collect_until(&worker, |e| *e == WorkerEvent::State(WorkerState::Paused));
    worker.send(WorkerCommand::Resume).unwrap();
    collect_until(&worker, |e| *e == WorkerEvent::State(WorkerState::Training));
    worker.send(WorkerCommand::Stop).unwrap();
    let events = collect_until(&worker, |e| *e == WorkerEvent::State(WorkerState::Stopped));
    assert!(events.contains(&WorkerEvent::Finished { stopped: true }));
    // After the stop no more steps arrive.
    assert!(worker.recv_timeout(Duration::from_millis(300)).is_none());
    // Start continues the same model: its history comes back with it.
    worker
        .send(WorkerCommand::Start {
            model: tiny_model(),
            train,
            data: synthetic(),
        })
        .unwrap();
    let events = collect_until(&worker, |e| matches!(e, WorkerEvent::Started { .. }));
    let Some(WorkerEvent::Started {
        history, progress, ..
    }) = events.last()
    else {
        panic!("no Started event");
    };
    assert!(!history.steps.is_empty());
    assert!(progress.global_step > 0);
    worker.send(WorkerCommand::Stop).unwrap();
}

#[test]
fn errors_are_reported_and_the_worker_keeps_serving() {
    let (worker, _) = spawn();
    // Missing data folder.
    worker
        .send(WorkerCommand::Start {
            model: tiny_model(),
            train: tiny_train(1),
            data: DataSource::MnistDir("/definitely/not/here".into()),
        })
        .unwrap();
    let events = collect_until(&worker, |e| matches!(e, WorkerEvent::Error(_)));
    let Some(WorkerEvent::Error(message)) = events.last() else {
        panic!("no error");
    };
    assert!(message.contains("could not load"), "{message}");
    // Invalid configuration.
    let mut bad = tiny_model();
    bad.first_kernel = 4;
    worker
        .send(WorkerCommand::Start {
            model: bad,
            train: tiny_train(1),
            data: synthetic(),
        })
        .unwrap();
    collect_until(
        &worker,
        |e| matches!(e, WorkerEvent::Error(m) if m.contains("kernel")),
    );
    // A corrupt checkpoint.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.ckpt");
    std::fs::write(&path, b"not a checkpoint").unwrap();
    worker.send(WorkerCommand::OpenCheckpoint { path }).unwrap();
    collect_until(
        &worker,
        |e| matches!(e, WorkerEvent::Error(m) if m.contains("checkpoint")),
    );
    // A panic inside the worker is caught and reported.
    worker.send(WorkerCommand::DebugPanic).unwrap();
    collect_until(
        &worker,
        |e| matches!(e, WorkerEvent::Error(m) if m.contains("bug")),
    );
    // ... and the thread still trains afterwards.
    worker
        .send(WorkerCommand::Start {
            model: tiny_model(),
            train: tiny_train(1),
            data: synthetic(),
        })
        .unwrap();
    collect_until(&worker, |e| {
        matches!(e, WorkerEvent::Finished { stopped: false })
    });
    assert!(worker.is_alive());
}

#[test]
fn dropping_the_handle_stops_and_joins_a_running_worker() {
    let (worker, _) = spawn();
    let mut train = tiny_train(100_000);
    train.samples_per_epoch = 0;
    worker
        .send(WorkerCommand::Start {
            model: tiny_model(),
            train,
            data: synthetic(),
        })
        .unwrap();
    collect_until(&worker, |e| matches!(e, WorkerEvent::Steps { .. }));
    let started = Instant::now();
    drop(worker);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn checkpoints_round_trip_through_the_worker() {
    let (worker, _) = spawn();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.ckpt");
    worker
        .send(WorkerCommand::Start {
            model: tiny_model(),
            train: tiny_train(1),
            data: synthetic(),
        })
        .unwrap();
    collect_until(&worker, |e| *e == WorkerEvent::State(WorkerState::Finished));
    worker
        .send(WorkerCommand::SaveCheckpoint { path: path.clone() })
        .unwrap();
    let events = collect_until(&worker, |e| {
        matches!(
            e,
            WorkerEvent::CheckpointSaved { .. } | WorkerEvent::Error(_)
        )
    });
    assert!(
        matches!(events.last(), Some(WorkerEvent::CheckpointSaved { .. })),
        "{:?}",
        summarize(&events)
    );
    worker.send(WorkerCommand::Reset).unwrap();
    collect_until(&worker, |e| *e == WorkerEvent::ResetDone);
    worker.send(WorkerCommand::OpenCheckpoint { path }).unwrap();
    let events = collect_until(&worker, |e| matches!(e, WorkerEvent::SamplesReady { .. }));
    let opened = events.iter().find_map(|e| match e {
        WorkerEvent::CheckpointOpened { model, history, .. } => {
            Some((model.clone(), history.epochs.len()))
        }
        _ => None,
    });
    assert_eq!(opened, Some((tiny_model(), 1)));
}
