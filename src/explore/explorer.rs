//! The explorer thread: computes likelihood maps and completions for the studio's Explore tab
//! off the UI thread. It is a [`crate::service`] thread: the UI sends [`ExploreRequest`]s
//! without blocking and polls [`ExploreEvent`]s; the thread is named and joined on drop.
//!
//! Requests that pile up while the thread is busy are coalesced: of each kind only the latest
//! is served (a map of the image as it is now, not of every stroke on the way there).

use std::sync::Arc;

use crossbeam_channel::Receiver;

use super::completion::{complete, CompletionSpec};
use super::nll_map::{nll_map, NllMap};
use crate::data::{binarize_fixed_image, DataSource, Dataset};
use crate::model::{CpuNet, ModelConfig, SampleGrid};
use crate::service::{guard, Outbox, RepaintFn, Service, ServiceSpec};
use crate::train::ModelSnapshot;

/// Name of the explorer thread.
pub const THREAD_NAME: &str = "pixelcnn-explorer";
/// Requests the UI may queue before the thread takes them.
pub const REQUEST_CAPACITY: usize = 32;
/// Events the thread may queue before the UI drains them.
pub const EVENT_CAPACITY: usize = 64;

/// The explorer as a service: its name, queues, shutdown request and panic report.
pub const SPEC: ServiceSpec<ExploreRequest, ExploreEvent> = ServiceSpec {
    thread_name: THREAD_NAME,
    description: "the explorer thread",
    command_capacity: REQUEST_CAPACITY,
    event_capacity: EVENT_CAPACITY,
    shutdown: || ExploreRequest::Shutdown,
    panicked: |message| ExploreEvent::Error(format!("the explorer hit a bug and ended: {message}")),
};

/// What the UI asks the explorer for.
#[derive(Clone, Debug, PartialEq)]
pub enum ExploreRequest {
    /// Explore this model from now on (its weights replace the previous ones).
    SetModel(ModelSnapshot),
    /// Forget the model (it was reset).
    ForgetModel,
    /// Test image `index` of `data`, in the fixed binarization `eval` uses (the set is loaded
    /// once and kept); answered by [`ExploreEvent::TestImage`].
    TestImage {
        /// Where the test set comes from.
        data: DataSource,
        /// Which image.
        index: usize,
    },
    /// The likelihood map of `image` (784 pixels, 0.0 or 1.0) under the digit `label` (read
    /// by a class-conditional model); answered by [`ExploreEvent::NllMap`] or
    /// [`ExploreEvent::Failed`] with the same `id`.
    NllMap {
        /// Chosen by the UI, returned with the answer.
        id: u64,
        /// The image.
        image: Vec<f32>,
        /// The digit a conditional model reads.
        label: Option<u8>,
    },
    /// Completions of `image` as `spec` says; answered by [`ExploreEvent::CompletionProgress`]
    /// events and then [`ExploreEvent::Completed`] (or [`ExploreEvent::Failed`]) with the same
    /// `id`.
    Complete {
        /// Chosen by the UI, returned with the answers.
        id: u64,
        /// The image to complete (784 pixels).
        image: Vec<f32>,
        /// Pixels kept, count, label and seed.
        spec: CompletionSpec,
    },
    /// End the thread.
    Shutdown,
}

/// What the explorer reports. Every send also wakes the UI.
#[derive(Clone, Debug, PartialEq)]
pub enum ExploreEvent {
    /// A test image, as asked by [`ExploreRequest::TestImage`].
    TestImage {
        /// Its index.
        index: usize,
        /// Images in the test set.
        count: usize,
        /// Its digit label.
        label: Option<u8>,
        /// Its 784 pixels in the fixed binarization.
        pixels: Vec<f32>,
    },
    /// A likelihood map.
    NllMap {
        /// The request's id.
        id: u64,
        /// Training steps of the model that computed it.
        global_step: u64,
        /// The map.
        map: NllMap,
    },
    /// Completions so far (after another image row was drawn); may be dropped when the UI is
    /// behind, the final [`ExploreEvent::Completed`] never is.
    CompletionProgress {
        /// The request's id.
        id: u64,
        /// The completions so far.
        grid: SampleGrid,
    },
    /// The completions are done.
    Completed {
        /// The request's id.
        id: u64,
        /// Training steps of the model that drew them.
        global_step: u64,
        /// The completions.
        grid: SampleGrid,
    },
    /// A request with an id could not be served (e.g. no model yet); a clear message.
    Failed {
        /// The request's id.
        id: u64,
        /// What went wrong.
        message: String,
    },
    /// A request without an id failed (e.g. the test set could not be loaded).
    Error(String),
}

/// The UI's handle on the explorer thread; dropping it ends the thread and joins it.
pub type Explorer = Service<ExploreRequest, ExploreEvent>;

impl Explorer {
    /// Starts the named explorer thread; `repaint` is called after each event it sends.
    pub fn spawn(repaint: RepaintFn) -> anyhow::Result<Explorer> {
        Service::start(SPEC, repaint, |requests, events| {
            ExplorerLoop {
                events,
                net: None,
                test_set: None,
            }
            .run(&requests)
        })
    }
}

/// The latest request of each kind taken from the queue in one go.
#[derive(Default)]
struct Pending {
    /// `Some(None)`: forget the model.
    model: Option<Option<ModelSnapshot>>,
    test_image: Option<(DataSource, usize)>,
    nll_map: Option<(u64, Vec<f32>, Option<u8>)>,
    complete: Option<(u64, Vec<f32>, CompletionSpec)>,
    shutdown: bool,
}

impl Pending {
    fn take(&mut self, request: ExploreRequest) {
        match request {
            ExploreRequest::SetModel(snapshot) => self.model = Some(Some(snapshot)),
            ExploreRequest::ForgetModel => self.model = Some(None),
            ExploreRequest::TestImage { data, index } => self.test_image = Some((data, index)),
            ExploreRequest::NllMap { id, image, label } => {
                self.nll_map = Some((id, image, label));
            }
            ExploreRequest::Complete { id, image, spec } => self.complete = Some((id, image, spec)),
            ExploreRequest::Shutdown => self.shutdown = true,
        }
    }
}

/// The model being explored, ready to run.
struct LoadedNet {
    model: ModelConfig,
    global_step: u64,
    net: CpuNet,
}

struct ExplorerLoop {
    events: Outbox<ExploreEvent>,
    net: Option<LoadedNet>,
    test_set: Option<(DataSource, Arc<Dataset>)>,
}

impl ExplorerLoop {
    fn run(&mut self, requests: &Receiver<ExploreRequest>) {
        while let Ok(first) = requests.recv() {
            let mut pending = Pending::default();
            pending.take(first);
            for request in requests.try_iter() {
                pending.take(request);
            }
            if pending.shutdown {
                return;
            }
            if let Err(message) = guard(|| self.serve(pending)) {
                let message = format!("the explorer hit a bug: {message}");
                if !self.events.send(ExploreEvent::Error(message)) {
                    return;
                }
            }
        }
    }

    fn serve(&mut self, pending: Pending) {
        match pending.model {
            Some(Some(snapshot)) => self.set_model(&snapshot),
            Some(None) => self.net = None,
            None => {}
        }
        if let Some((data, index)) = pending.test_image {
            self.test_image(data, index);
        }
        if let Some((id, image, label)) = pending.nll_map {
            let event = match &self.net {
                None => no_model(id),
                Some(loaded) => match nll_map(&loaded.net, &image, label) {
                    Some(map) => ExploreEvent::NllMap {
                        id,
                        global_step: loaded.global_step,
                        map,
                    },
                    None => ExploreEvent::Failed {
                        id,
                        message: format!("the image has {} pixels, not 784", image.len()),
                    },
                },
            };
            self.events.send(event);
        }
        if let Some((id, image, spec)) = pending.complete {
            self.complete(id, &image, spec);
        }
    }

    fn set_model(&mut self, snapshot: &ModelSnapshot) {
        match &mut self.net {
            Some(loaded) if loaded.model == snapshot.model => {
                loaded.net.set_params(&snapshot.params);
                loaded.global_step = snapshot.global_step;
            }
            _ => {
                self.net = Some(LoadedNet {
                    model: snapshot.model.clone(),
                    global_step: snapshot.global_step,
                    net: CpuNet::new(&snapshot.model, &snapshot.params),
                });
            }
        }
    }

    fn test_image(&mut self, data: DataSource, index: usize) {
        if self.test_set.as_ref().map(|(source, _)| source) != Some(&data) {
            let loaded = data
                .load()
                .map(|mnist| mnist.test)
                .map_err(|err| format!("could not load the test images: {err}"));
            match loaded {
                Ok(test) => self.test_set = Some((data, Arc::new(test))),
                Err(message) => {
                    self.events.send(ExploreEvent::Error(message));
                    return;
                }
            }
        }
        let Some((_, test)) = &self.test_set else {
            return;
        };
        let count = test.len();
        let event = match binarize_fixed_image(&test.images, index) {
            Some(pixels) => ExploreEvent::TestImage {
                index,
                count,
                label: test.label(index),
                pixels,
            },
            None => ExploreEvent::Error(format!(
                "test image {index} does not exist: the test set has {count} images"
            )),
        };
        self.events.send(event);
    }

    fn complete(&mut self, id: u64, image: &[f32], spec: CompletionSpec) {
        let Some(loaded) = &self.net else {
            self.events.send(no_model(id));
            return;
        };
        let events = &self.events;
        let mut on_row = |grid: &SampleGrid| {
            // Progress may be dropped when the UI is behind; the final grid is not.
            events.send_droppable(ExploreEvent::CompletionProgress {
                id,
                grid: grid.clone(),
            });
        };
        let event = match complete(&loaded.net, image, spec, &mut on_row) {
            Ok(grid) => ExploreEvent::Completed {
                id,
                global_step: loaded.global_step,
                grid,
            },
            Err(err) => ExploreEvent::Failed {
                id,
                message: err.to_string(),
            },
        };
        self.events.send(event);
    }
}

fn no_model(id: u64) -> ExploreEvent {
    ExploreEvent::Failed {
        id,
        message: "there is no model to explore yet: train one or open a checkpoint".into(),
    }
}
